/** An error's reason in one line: its code and first line of message, without a stack. */
export function shortReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const message = String(typeof e?.message === 'string' ? e.message : err).split('\n')[0]!;
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
