import { PagerError } from './errors.js';

// A pager's answer, as far as the thread may show it: a reason, not a page of HTML from a proxy.
const MAX_REASON = 200;

/** How long one try may take: a page that waits longer is retried rather than waited for. */
export const PAGER_TIMEOUT_MS = 10_000;

/**
 * POSTs a JSON body to a pager; resolves when it answers 2xx. Not getting through (network, timeout,
 * 408, 429, 5xx) is PAGER_UNAVAILABLE, worth another try; any other answer is PAGER_REFUSED. The error
 * says the status and the pager's reason, with `secret` cut out should the pager echo it back.
 */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  secret: string,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
      // The secret goes where the config says, never where a redirect points.
      redirect: 'error',
      signal: AbortSignal.timeout(PAGER_TIMEOUT_MS),
    });
  } catch (err) {
    throw new PagerError('PAGER_UNAVAILABLE', unreachable(err));
  }
  const text = await response.text().catch(() => '');
  if (response.ok) return;
  const reason = reasonOf(text, secret);
  const message = `HTTP ${response.status}${reason ? `: ${reason}` : ''}`;
  const retry = response.status === 408 || response.status === 429 || response.status >= 500;
  throw new PagerError(retry ? 'PAGER_UNAVAILABLE' : 'PAGER_REFUSED', message);
}

function unreachable(err: unknown): string {
  if (err instanceof DOMException && err.name === 'TimeoutError')
    return `no answer within ${PAGER_TIMEOUT_MS / 1000}s`;
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String(err);
}

/** The pager's own words: PagerDuty's `message` and `errors`, or the text; short, one line. */
function reasonOf(text: string, secret: string): string {
  let reason = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown; errors?: unknown };
    if (typeof parsed === 'string') reason = parsed;
    else if (parsed && typeof parsed === 'object' && typeof parsed.message === 'string') {
      const errors = Array.isArray(parsed.errors) ? parsed.errors.filter((e) => typeof e === 'string') : [];
      reason = [parsed.message, ...errors].join(': ');
    }
  } catch {
    // Not JSON: the text itself.
  }
  reason = reason.replaceAll(secret, '[REDACTED]').replace(/\s+/g, ' ').trim();
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
}
