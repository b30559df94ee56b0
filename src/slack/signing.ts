import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack's v0 request signing: `v0=` + HMAC-SHA256(secret, `v0:<timestamp>:<raw body>`), with the
 * timestamp in seconds. Slack documents refusing any request more than five minutes off, either way:
 * a replay window that a future timestamp would otherwise stretch without end.
 */
export const SIGNATURE_MAX_SKEW_S = 5 * 60;

export function slackSignature(secret: string, timestamp: string, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body);
  return `v0=${hmac.digest('hex')}`;
}

/** Why a request's signature headers are refused, or undefined when they are Slack's. */
export function signatureProblem(
  secret: string,
  headers: { timestamp: unknown; signature: unknown },
  body: Buffer,
  nowMs = Date.now(),
): string | undefined {
  const { timestamp, signature } = headers;
  if (typeof timestamp !== 'string' || !/^\d{1,10}$/.test(timestamp))
    return 'x-slack-request-timestamp: expected a time in seconds';
  if (Math.abs(Math.floor(nowMs / 1000) - Number(timestamp)) > SIGNATURE_MAX_SKEW_S)
    return 'x-slack-request-timestamp: more than 5 minutes from now';
  if (typeof signature !== 'string' || !/^v0=[0-9a-f]{64}$/.test(signature))
    return 'x-slack-signature: expected v0= and 64 hex digits';
  const expected = Buffer.from(slackSignature(secret, timestamp, body));
  if (!timingSafeEqual(expected, Buffer.from(signature))) return 'x-slack-signature: does not match';
  return undefined;
}
