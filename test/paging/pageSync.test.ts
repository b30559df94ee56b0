import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { inTransaction } from '../../src/db/pool.js';
import { resolveIncident } from '../../src/incidents/lifecycle.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { PagerDutyPager } from '../../src/pagers/pagerDuty.js';
import { WebhookPager } from '../../src/pagers/webhookPager.js';
import { type PageSyncDeps, syncIncidentPages } from '../../src/paging/pageSync.js';
import { requestPage } from '../../src/paging/pages.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
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

  const deps = (over: Partial<PageSyncDeps> = {}): PageSyncDeps => ({
    pool: pool(),
    pagers: {
      [PAGER]: new PagerDutyPager('R0UTINGKEYtest0123456789abcdefab', `${pagerDuty.url}/v2/enqueue`),
    },
    incidentChanged: async () => {},
    metrics: new Metrics(),
    logger: createLogger('silent'),
    ...over,
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

  /**
   * PagerDuty takes the trigger, and the sender cannot record it (it dies, or PostgreSQL is cut then):
   * its claim runs out with nothing recorded.
   */
  const triggerThenLoseTheRecord = async (id: number, through = deps()) => {
    const real = pool();
    const cut = {
      query: real.query.bind(real),
      connect: async () => {
        throw new Error('Connection terminated unexpectedly');
      },
    } as unknown as pg.Pool;
    await expect(syncIncidentPages({ ...through, pool: cut }, id)).rejects.toThrow('Connection terminated');
    await real.query(
      "UPDATE incident_pages SET sending_until = now() - interval '1 second' WHERE incident_id = $1",
      [id],
    );
  };

  it('acknowledges and resolves a trigger PagerDuty took whose sender could not record it', async () => {
    const acked = await paged('TriggerTakenNotRecorded');
    await triggerThenLoseTheRecord(acked.id);
    await acknowledge(acked.id);
    await syncIncidentPages(deps(), acked.id);
    expect(actionsOf(acked.key)).toEqual(['trigger:202', 'acknowledge:202']);

    const resolved = await paged('TriggerTakenNotRecordedResolved');
    await triggerThenLoseTheRecord(resolved.id);
    await resolveIncident(
      { pool: pool(), config, effects: recordingEffects() },
      resolved.id,
      'fixed',
      'U0ALICE',
    );
    await syncIncidentPages(deps(), resolved.id);
    expect(actionsOf(resolved.key)).toEqual(['trigger:202', 'resolve:202']);
  });

  it('acknowledges a trigger that may have got through even when its retry was refused', async () => {
    const { id, key } = await paged('TriggerUnknownThenRefused');
    // A receiver's 409 for an Idempotency-Key it is still working on, say.
    pagerDuty.answerNext(503, 409);
    await syncIncidentPages(deps(), id);
    await pool().query(
      "UPDATE incident_pages SET retry_at = now() - interval '1 second' WHERE incident_id = $1",
      [id],
    );
    await syncIncidentPages(deps(), id);
    await acknowledge(id);
    await syncIncidentPages(deps(), id);
    expect(actionsOf(key)).toEqual(['trigger:503', 'trigger:409', 'acknowledge:202']);
  });

  it('leaves silent a trigger refused at its only try', async () => {
    const { id, key } = await paged('TriggerRefused');
    pagerDuty.answerNext(400);
    await syncIncidentPages(deps(), id);
    await acknowledge(id);
    await syncIncidentPages(deps(), id);
    expect(actionsOf(key)).toEqual(['trigger:400']);
  });

  /** Through a webhook pager, whose Idempotency-Key shows each event's opening. */
  const webhook = () =>
    deps({ pagers: { [PAGER]: new WebhookPager(`${pagerDuty.url}/pages`, 's'.repeat(32)) } });
  /** Each event the pager got for `key`: its opening, what it was and the answer, as `0:trigger:202`. */
  const eventsOf = (key: string) =>
    pagerDuty.received
      .filter((r) => r.headers['idempotency-key']?.toString().startsWith(`${key}:`))
      .map((r) => `${r.headers['idempotency-key']?.toString().slice(key.length + 1)}:${r.status}`);
  /** The group's alert resolves and fires again before page sync gets to it (a backlog, a pager away). */
  const resolvedAndReopened = async (group: string) => {
    const deliver = (alerts: AlertSpec[]) =>
      inTransaction(pool(), (db) =>
        ingestDelivery(db, config, WebhookPayloadSchema.parse(payload({ group, alerts }))),
      );
    await deliver([{ instance: 'pod-1', status: 'resolved' }]);
    expect((await deliver([{ instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' }])).outcome).toBe(
      'reopened',
    );
  };

  it('resolves the acknowledged alert of an earlier opening before triggering for a reopening', async () => {
    const { id, key } = await paged('AckedResolvedReopened');
    await syncIncidentPages(webhook(), id);
    await acknowledge(id);
    await syncIncidentPages(webhook(), id);
    await resolvedAndReopened('AckedResolvedReopened');
    await syncIncidentPages(webhook(), id);
    // PagerDuty takes a trigger into the open (acknowledged) alert of its dedup key: it pages nobody. The
    // resolve is the first opening's: the reopening's own resolve is still to come.
    expect(eventsOf(key)).toEqual(['0:trigger:202', '0:acknowledge:202', '0:resolve:202', '1:trigger:202']);
  });

  it('triggers a reopening whose pager refuses to resolve the earlier alert', async () => {
    const { id, key } = await paged('ResolveFirstRefused');
    await syncIncidentPages(webhook(), id);
    await acknowledge(id);
    await syncIncidentPages(webhook(), id);
    await resolvedAndReopened('ResolveFirstRefused');
    // The receiver closed that alert by hand already, say.
    pagerDuty.answerNext(422);
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual(['0:trigger:202', '0:acknowledge:202', '0:resolve:422', '1:trigger:202']);
  });

  it('sends nothing more once a reopening finds its pager refusing both the resolve-first and the trigger', async () => {
    const { id, key } = await paged('EverythingRefused');
    await syncIncidentPages(webhook(), id);
    await acknowledge(id);
    await syncIncidentPages(webhook(), id);
    await resolvedAndReopened('EverythingRefused');
    // A secret rotated at the receiver: it refuses whatever comes.
    pagerDuty.answerNext(422, 400);
    await syncIncidentPages(webhook(), id);
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual(['0:trigger:202', '0:acknowledge:202', '0:resolve:422', '1:trigger:400']);
  });

  it("resolves first an earlier opening's trigger whose outcome is not known", async () => {
    const { id, key } = await paged('UnsettledThenReopened');
    await triggerThenLoseTheRecord(id, webhook());
    // Acknowledged in the pager's own app, say: nothing the bot sees.
    await resolvedAndReopened('UnsettledThenReopened');
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual(['0:trigger:202', '0:resolve:202', '1:trigger:202']);
  });

  it("resolves nothing after a reopening's trigger an older worker sent and recorded without its opening", async () => {
    const { id, key } = await paged('OlderWorkerTriggers');
    await syncIncidentPages(webhook(), id);
    await resolvedAndReopened('OlderWorkerTriggers');
    // The older worker's record of the reopening's trigger, as it wrote it: no sent_opening.
    await pool().query(
      `UPDATE incident_pages SET sent_action = 'trigger', sent_at = now(), failed_action = NULL, attempts = 0,
              last_error = NULL, failing_since = NULL, retry_at = NULL, failed_opening = NULL
        WHERE incident_id = $1`,
      [id],
    );
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual(['0:trigger:202']);
  });

  it("resolves a reopening's trigger whose outcome is not known once the incident resolves again", async () => {
    const { id, key } = await paged('ReopenedTriggerUnknown');
    await syncIncidentPages(webhook(), id);
    await resolvedAndReopened('ReopenedTriggerUnknown');
    // The earlier alert resolved; the reopening's trigger gets a 503: the receiver may have taken it.
    pagerDuty.answerNext(202, 503);
    await syncIncidentPages(webhook(), id);
    await resolveIncident({ pool: pool(), config, effects: recordingEffects() }, id, 'fixed', 'U0ALICE');
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual(['0:trigger:202', '0:resolve:202', '1:trigger:503', '1:resolve:202']);
  });

  it("acknowledges a reopening's trigger whose outcome is not known, after a refused resolve-first", async () => {
    const { id, key } = await paged('ReopenedTriggerUnknownAcked');
    await syncIncidentPages(webhook(), id);
    await acknowledge(id);
    await syncIncidentPages(webhook(), id);
    await resolvedAndReopened('ReopenedTriggerUnknownAcked');
    pagerDuty.answerNext(422, 503);
    await syncIncidentPages(webhook(), id);
    await acknowledge(id);
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual([
      '0:trigger:202',
      '0:acknowledge:202',
      '0:resolve:422',
      '1:trigger:503',
      '1:acknowledge:202',
    ]);
  });

  it("resolves first an earlier opening's acknowledge still being sent as the incident resolved and reopened", async () => {
    const { id, key } = await paged('AckSentAcrossReopen');
    await syncIncidentPages(webhook(), id);
    await acknowledge(id);
    let answer!: () => void;
    pagerDuty.gate = new Promise((resolve) => (answer = resolve));
    const sending = syncIncidentPages(webhook(), id);
    await waitFor(() => eventsOf(key).length === 2, 5000, 'the acknowledge to reach the pager');
    await resolvedAndReopened('AckSentAcrossReopen');
    pagerDuty.gate = undefined;
    answer();
    await sending;
    await syncIncidentPages(webhook(), id);
    expect(eventsOf(key)).toEqual(['0:trigger:202', '0:acknowledge:202', '0:resolve:202', '1:trigger:202']);
  });
});
