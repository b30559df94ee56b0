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
  /** Slack not listing the groups for `forMs` so far, as this process has been asking. */
  const unlisted = (forMs: number) => ({
    groupId: (group: string) => (group.startsWith('@') ? undefined : group),
    groupsUnlistedForMs: () => forMs,
  });

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
  const step = (incidentId: number, forMs = 0) =>
    runEscalationStep({ pool: pool(), config, ...unlisted(forMs) }, { incidentId, opening: 0, step: 0 });

  it('waits for the listing when it pages nobody, however overdue (a worker back after hours)', async () => {
    for (const ago of ['10 seconds', '3 hours']) {
      const outcome = await step(await opened('P1', ago));
      expect(outcome.ran, ago).toBeUndefined();
      expect(outcome.next?.step).toBe(0);
      expect(outcome.next!.at.getTime()).toBeGreaterThan(Date.now());
    }
  });

  it('goes at once when it pages, the handle shown as written', async () => {
    const outcome = await step(await opened('P2', '10 seconds'));
    expect(outcome).toMatchObject({ ran: { policy: 'paging', step: 1 }, paged: true });
  });

  it(`goes once the process has waited ${GROUPS_UNLISTED_WAIT_MS / 60_000} minutes for the listing`, async () => {
    const outcome = await step(await opened('P1', '3 minutes'), GROUPS_UNLISTED_WAIT_MS);
    expect(outcome.ran).toEqual({ policy: 'mention', step: 1 });
  });
});
