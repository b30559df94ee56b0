/** The message a button sits on, as the bot recorded it posting it; null until it is posted. */
export interface ButtonMessage {
  channelId: string | null;
  ts: string | null;
}

/**
 * True when a click came from `message`. A click names the message it came from four times (channel.id,
 * container.channel_id, container.message_ts, message.ts); all four must agree, since a forged click
 * can set each of them.
 */
export function isClickOn(click: unknown, message: ButtonMessage): boolean {
  const c = click as {
    channel?: { id?: unknown };
    container?: { channel_id?: unknown; message_ts?: unknown };
    message?: { ts?: unknown };
  };
  const { channelId, ts } = message;
  return (
    channelId !== null &&
    ts !== null &&
    c.channel?.id === channelId &&
    c.container?.channel_id === channelId &&
    c.container?.message_ts === ts &&
    c.message?.ts === ts
  );
}
