import { describe, expect, it } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { GROUPS_UNLISTED_WAIT_MS, runEscalationStep } from '../../src/escalation/engine.js';
import { migratedDatabase } from '../support/database.js';

/** A step that calls a group by handle while Slack has not listed the groups yet (an outage since the start). */

const config = parseFileConfig(
  'test',
  `slack: { defaultChannel: C0123ABCD }
pagers:
  oncall: { type: webhook, url: 'http://127.0.0.1:9/page', secretEnv: TEST_PAGE_SECRET }
escalation:
  policies:
    mention: { steps: [{ after: 0, notify: ['@sre-oncall'] }, { after: 1h, notify: [U0BOB] }] }
    paging: { steps: [{ after: 0, notify: ['@sre-oncall'], page: oncall }] }
  severities: { P1: mention, P2: paging }
`,
);

describe('an escalation step naming a handle Slack has not listed yet', () => {
  const pool = migratedDatabase();
  const unlisted = { groupId: (group: string) => (group.startsWith('@') ? undefined : group) };

  const opened = async (severity: string, ago: string) =>
    (
      await pool().query<{ id: number }>(
        `INSERT INTO incidents (title, severity, state, group_key, channel_id, created_at, opened_at,
                                escalation_started_at)
         VALUES ('DiskFilling', $1, 'open', $2, 'C0PAYMENTS', now() - $3::interval, now() - $3::interval,
                 now() - $3::interval)
         RETURNING id::int AS id`,
        [severity, `{}:{alertname="${severity}${ago}"}`, ago],
      )
    ).rows[0]!.id;
  const step = (incidentId: number, waitingSince?: number) =>
    runEscalationStep(
      { pool: pool(), config, ...unlisted },
      { incidentId, opening: 0, step: 0, ...(waitingSince ? { waitingSince } : {}) },
    );

  it('waits for the listing when it pages nobody, however overdue (a worker back after hours)', async () => {
    for (const ago of ['10 seconds', '3 hours']) {
      const before = Date.now();
      const outcome = await step(await opened('P1', ago));
      expect(outcome.ran, ago).toBeUndefined();
      expect(outcome.next?.step).toBe(0);
      expect(outcome.next!.at.getTime()).toBeGreaterThan(Date.now());
      // Its job keeps when it began, for whichever worker tries it next.
      expect(outcome.waitingSince).toBeGreaterThanOrEqual(before);
    }
  });

  it('goes at once when it pages, the handle shown as written', async () => {
    const outcome = await step(await opened('P2', '10 seconds'));
    expect(outcome).toMatchObject({ ran: { policy: 'paging', step: 1 }, paged: true });
  });

  it(`goes once it has waited ${GROUPS_UNLISTED_WAIT_MS / 60_000} minutes from its first try, and hands the wait on`, async () => {
    const since = Date.now() - GROUPS_UNLISTED_WAIT_MS;
    const outcome = await step(await opened('P1', '3 minutes'), since);
    expect(outcome.ran).toEqual({ policy: 'mention', step: 1 });
    // The next step, due later, does not wait the outage out again.
    expect(outcome).toMatchObject({ next: { step: 1 }, waitingSince: since });
  });
});
