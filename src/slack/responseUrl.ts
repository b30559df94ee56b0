/** How long a command's answer may take to reach its response_url, body and all. */
const RESPONSE_URL_TIMEOUT_MS = 10_000;

/**
 * Posts a command's answer to its response_url (Slack takes answers there for 30 minutes). Not Bolt's
 * respond(): it waits as long as the other end does, holding the handler, and a stop that waits for the
 * handlers with it. A string is sent as the answer's text.
 */
export async function postToResponseUrl(responseUrl: string, answer: string | object): Promise<void> {
  const res = await fetch(responseUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(typeof answer === 'string' ? { text: answer } : answer),
    signal: AbortSignal.timeout(RESPONSE_URL_TIMEOUT_MS),
  });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`the command's response_url answered HTTP ${res.status}`);
}
