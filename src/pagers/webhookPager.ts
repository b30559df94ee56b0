import { createHmac } from 'node:crypto';
import { postJson } from './httpPost.js';
import type { PageEvent, Pager } from './pager.js';

/** The headers a signed page carries (README: "Paging"). */
export const SIGNATURE_HEADER = 'X-Incident-Bot-Signature';
export const TIMESTAMP_HEADER = 'X-Incident-Bot-Timestamp';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** `sha256=<hex>` of HMAC-SHA256 over "<timestamp>.<body>": the timestamp signed stops a replay later. */
export function pageSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** Pages by POSTing JSON to a URL of one's own, signed with a shared secret. */
export class WebhookPager implements Pager {
  readonly kind = 'webhook';

  constructor(
    private readonly url: string,
    private readonly secret: string,
  ) {}

  async send(event: PageEvent): Promise<void> {
    const { incident } = event;
    const body = JSON.stringify({
      event: event.action,
      dedupKey: event.dedupKey,
      incident: {
        ref: incident.ref,
        title: incident.title,
        severity: incident.severity,
        status: incident.status,
        ...(incident.url ? { url: incident.url } : {}),
        labels: incident.labels,
      },
      sentAt: event.sentAt.toISOString(),
    });
    // Signed at each try: a retry is not refused as a replay of the first.
    const timestamp = String(Math.floor(Date.now() / 1000));
    await postJson(
      this.url,
      body,
      {
        [SIGNATURE_HEADER]: pageSignature(this.secret, timestamp, body),
        [TIMESTAMP_HEADER]: timestamp,
        [IDEMPOTENCY_HEADER]: event.idempotencyKey,
      },
      this.secret,
    );
  }
}
