import { spokenDuration } from '../primitives/duration.js';

/** The longest heartbeat alertname the config takes: the template check renders one this long. */
export const MAX_HEARTBEAT_ALERTNAME = 200;

/** A heartbeat gap as its two messages show it (src/alerts/heartbeat.ts records them). */
export interface HeartbeatGapRecord {
  alertname: string;
  since: Date;
  expectEveryMs: number;
  endedAt: Date | null;
}

/** The view of `heartbeat-missing` and `heartbeat-back`; the second uses endedAt and silentFor too. */
export interface HeartbeatGapView {
  alertname: string;
  since: Date;
  expectEvery: string;
  endedAt?: Date;
  silentFor?: string;
}

export function heartbeatGapView(gap: HeartbeatGapRecord): HeartbeatGapView {
  return {
    alertname: gap.alertname,
    since: gap.since,
    expectEvery: spokenDuration(gap.expectEveryMs),
    ...(gap.endedAt
      ? { endedAt: gap.endedAt, silentFor: spokenDuration(gap.endedAt.getTime() - gap.since.getTime()) }
      : {}),
  };
}
