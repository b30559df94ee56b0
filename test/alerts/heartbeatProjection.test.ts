import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type HeartbeatProjectionDeps, syncHeartbeatGap } from '../../src/alerts/heartbeatProjection.js';
import type { RunningEmulator } from '../../src/sandbox/slackEmulator.js';
import { migratedDatabase } from '../support/database.js';
import { slackSide } from '../support/slackSide.js';

const TOKEN = 'xoxb-heartbeat-projection-test';
const CHANNEL = 'C0DEFAULT1';
const LIMIT = { perMinute: 6000, burst: 100 };

/** syncHeartbeatGap against a real database and Redis and the emulated Slack. */
describe("heartbeat gaps' messages in Slack", () => {
  const pool = migratedDatabase(4);
  const side = slackSide(TOKEN);
  let slack: RunningEmulator;
  let deps: HeartbeatProjectionDeps;
  beforeAll(() => {
    const { emulator, ...projection } = side();
    slack = emulator;
    deps = {
      pool: pool(),
      ...projection,
      config: { slack: { rateLimits: { postMessagePerChannel: LIMIT, update: LIMIT, history: LIMIT } } },
    };
  });
  afterEach(async () => {
    await pool().query('TRUNCATE heartbeat_gaps');
  });

  const insertGap = async (gap: { since: string; endedAt?: string; missingTs?: string }) => {
    const { rows } = await pool().query<{ id: number }>(
      `INSERT INTO heartbeat_gaps (alertname, since, expect_every_ms, channel_id, ended_at, missing_ts)
       VALUES ('Watchdog', now() - $1::interval, 600000, $2, now() - $3::interval, $4) RETURNING id::int AS id`,
      [gap.since, CHANNEL, gap.endedAt ?? null, gap.missingTs ?? null],
    );
    return rows[0]!.id;
  };
  const shown = () =>
    slack.emulator
      .channelMessages(CHANNEL)
      .map((m) => `${m.metadata?.event_type} ${String(m.metadata?.event_payload.heartbeat_gap_id)}`);

  it("tells a gap's return before the next gap's silence, whichever job runs first", async () => {
    // The first gap was told, then ended while Slack was down: its "back" is still to post. The heartbeat
    // went away again: a second gap, its "silent" still to post too. When Slack returns, the probe releases
    // both jobs at once, in no set order; the channel must not end on "back" while alerting is silent.
    const first = await insertGap({ since: '3 hours', endedAt: '2 hours', missingTs: '1.000001' });
    const second = await insertGap({ since: '2 hours' });
    await syncHeartbeatGap(deps, second);
    await syncHeartbeatGap(deps, first);
    expect(shown()).toEqual([`heartbeat_back ${first}`, `heartbeat_missing ${second}`]);
  });
});
