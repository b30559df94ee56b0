import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { inTransaction } from '../../src/db/pool.js';
import { resolveIncident } from '../../src/incidents/lifecycle.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { PagerDutyPager } from '../../src/pagers/pagerDuty.js';
import { type PageSyncDeps, syncIncidentPages } from '../../src/paging/pageSync.js';
import { requestPage } from '../../src/paging/pages.js';
import { payload } from '../support/alertmanager.js';
import { migratedDatabase } from '../support/database.js';
import { recordingEffects } from '../support/incidents.js';
import { type PagerStandIn, startPagerStandIn } from '../support/pagerStandIn.js';
import { waitFor } from '../support/services.js';

/** Page sync against real PostgreSQL and a recording PagerDuty stand-in over real HTTP. */

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');
const PAGER = 'oncall-pagerduty';

describe('page sync', () => {
  const pool = migratedDatabase();
  let pagerDuty: PagerStandIn;
  beforeAll(async () => {
    pagerDuty = await startPagerStandIn();
  });
  afterAll(async () => {
    await pagerDuty?.close();
  });

  const deps = (): PageSyncDeps => ({
    pool: pool(),
    pagers: {
      [PAGER]: new PagerDutyPager('R0UTINGKEYtest0123456789abcdefab', `${pagerDuty.url}/v2/enqueue`),
    },
    incidentChanged: async () => {},
    metrics: new Metrics(),
    logger: createLogger('silent'),
  });
  /** An alert-born incident paged through PAGER; its id and the page's dedup key. */
  const paged = async (group: string) => {
    const result = await inTransaction(pool(), (db) =>
      ingestDelivery(
        db,
        config,
        WebhookPayloadSchema.parse(payload({ group, alerts: [{ instance: 'pod-1' }] })),
      ),
    );
    const id = result.incident!.id;
    await inTransaction(pool(), (db) => requestPage(db, { incidentId: id, pager: PAGER, step: 1 }));
    const { rows } = await pool().query('SELECT dedup_key FROM incident_pages WHERE incident_id = $1', [id]);
    return { id, key: rows[0].dedup_key as string };
  };
  const actionsOf = (key: string) =>
    pagerDuty.received
      .filter((r) => r.body.dedup_key === key)
      .map((r) => `${r.body.event_action}:${r.status}`);
  const acknowledge = (id: number) =>
    pool().query("UPDATE incidents SET acknowledged_by = 'U0ALICE', acknowledged_at = now() WHERE id = $1", [
      id,
    ]);

  it('acknowledges a trigger that failed without an answer to trust: PagerDuty may have taken it', async () => {
    const { id, key } = await paged('TriggerOutcomeUnknown');
    pagerDuty.answerNext(503);
    expect((await syncIncidentPages(deps(), id)).retryAt).toBeInstanceOf(Date);
    await acknowledge(id);
    await syncIncidentPages(deps(), id);
    expect(actionsOf(key)).toEqual(['trigger:503', 'acknowledge:202']);
  });

  it('sends the next event when the incident moved on while the one before it was failing', async () => {
    const { id, key } = await paged('MovedOnDuringAFailure');
    await syncIncidentPages(deps(), id);
    await acknowledge(id);
    let answer!: () => void;
    pagerDuty.gate = new Promise((resolve) => (answer = resolve));
    pagerDuty.answerNext(500);
    const sending = syncIncidentPages(deps(), id);
    await waitFor(() => actionsOf(key).length === 2, 20_000, 'the acknowledge on its way');
    await resolveIncident({ pool: pool(), config, effects: recordingEffects() }, id, 'fixed', 'U0ALICE');
    // The resolve's own job finds the page being sent, and leaves it to the sender.
    await syncIncidentPages(deps(), id);
    pagerDuty.gate = undefined;
    answer();
    await sending;
    expect(actionsOf(key)).toEqual(['trigger:202', 'acknowledge:500', 'resolve:202']);
  });

  it('puts the next try after the claim of another sender, rather than at once again and again', async () => {
    const { id } = await paged('RetryWhileAnotherSends');
    const { rows } = await pool().query<{ sendingUntil: Date }>(
      `UPDATE incident_pages SET failed_action = 'trigger', attempts = 1, last_error = 'HTTP 503',
              failing_since = now(), retry_at = now() - interval '5 seconds',
              sending_until = now() + interval '20 seconds'
        WHERE incident_id = $1 RETURNING sending_until AS "sendingUntil"`,
      [id],
    );
    const { retryAt } = await syncIncidentPages(deps(), id);
    expect(retryAt!.getTime()).toBeGreaterThanOrEqual(rows[0]!.sendingUntil.getTime());
  });
});
