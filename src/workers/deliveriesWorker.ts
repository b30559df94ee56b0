import type { Queue } from 'bullmq';
import type pg from 'pg';
import {
  forgetIngestedDeliveries,
  type IngestedDelivery,
  IngestFailed,
  ingestNextDelivery,
} from '../alerts/deliveries.js';
import type { DeliveryOutcome, IngestConfig } from '../alerts/ingest.js';
import { isDatabaseOutOfReach } from '../db/pool.js';
import type { IncidentEffects } from '../incidents/lifecycle.js';
import { outsideLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { incidentRef } from '../primitives/ids.js';
import { withTimeout } from '../primitives/withTimeout.js';
import type { QueuedIncidentEffects } from '../queues/incidentTasks.js';
import { enqueueIncidentSync, type SlackSyncJob } from '../queues/queues.js';

/** Deliveries ingested at once: each holds a client of its pool for its transaction. */
export const DELIVERIES_CONCURRENCY = 4;
/**
 * How the webhook's bursts go first (see ingestAtOnce). A delivery stored within `withinMs` of the one
 * before joins its burst, which goes on while the last was stored within `withinMs`. From a burst's second
 * delivery, the ingest holds for `holdForMs` (if it has caught up since its last hold), then takes one at
 * a time; a burst that has lasted `forAtMostMs` is a flood, which gets the full ingest.
 */
export const WEBHOOK_BURST = { withinMs: 200, holdForMs: 1000, forAtMostMs: 5000 };
/** Deliveries stored by another process (or while this one waited for Redis) are found within this long. */
const POLL_EVERY_MS = 1000;
const FORGET_EVERY_MS = 10 * 60_000;
const ENQUEUE_TIMEOUT_MS = 3000;
/** What a delivery comes to when it changes no incident: logged at debug, as its repeats' requests are. */
const CHANGED_NOTHING = new Set<DeliveryOutcome>(['duplicate', 'stale', 'ignored']);

export interface DeliveriesWorkerDeps {
  /** Its own (DELIVERIES_CONCURRENCY + 1 clients, one to forget old deliveries): never the webhook's. */
  pool: pg.Pool;
  config: IngestConfig;
  queue: Queue<SlackSyncJob>;
  /**
   * Whether Redis answers now (a round trip, not the connection's last known state, which lags a cut):
   * while it does not, deliveries wait, stored, so that what they change reaches Slack.
   */
  queueAnswers: () => Promise<boolean>;
  /**
   * Where a reopened incident's status-update reminder is scheduled, and its escalation started or
   * stopped; and where Alertmanager is asked for the alerts a truncated notification left out.
   */
  effects: Pick<IncidentEffects, 'updateDue' | 'opened' | 'resolved'> &
    Pick<QueuedIncidentEffects, 'alertsLeftOut'>;
  metrics: Metrics;
  logger: Logger;
  /** WEBHOOK_BURST unless a test says otherwise. */
  webhookBurst?: typeof WEBHOOK_BURST;
}

/**
 * Ingests the deliveries the webhook stored (see src/alerts/deliveries.ts): woken by each one this process
 * stores, and polling for the rest. Every serving process runs one; they share the work through the
 * database.
 */
export class DeliveriesWorker {
  private readonly loops = new Set<Promise<void>>();
  /** Loops taking deliveries: a loop leaves the count as it decides to end, before its promise settles. */
  private running = 0;
  private lastStored = Number.NEGATIVE_INFINITY;
  /** When the webhook's current burst of deliveries began. */
  private burstSince = Number.NEGATIVE_INFINITY;
  /** When the last hold began (see ingestAtOnce). */
  private holdSince = Number.NEGATIVE_INFINITY;
  /**
   * Whether the ingest has found nothing left to take since the last hold began (a claim begun after it,
   * with no other loop running, came back empty): only then may another begin.
   */
  private caughtUp = true;
  /**
   * Woken while every loop it may run was busy (or none may, on hold): a loop that finds nothing looks once
   * more before it ends.
   */
  private woken = false;
  private stopped = false;
  /** Wakes the worker when the hold ends. */
  private holdEnds?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  private forget?: NodeJS.Timeout;

  constructor(private readonly deps: DeliveriesWorkerDeps) {}

  start(): void {
    this.poll = setInterval(() => this.wake(), POLL_EVERY_MS);
    this.forget = setInterval(() => {
      forgetIngestedDeliveries(this.deps.pool).catch((err: unknown) =>
        this.deps.logger.warn({ err }, 'could not forget ingested deliveries'),
      );
    }, FORGET_EVERY_MS);
    this.wake();
  }

  /** This process's webhook stored a delivery: take it now rather than at the next poll, or after a hold. */
  stored(): void {
    const now = performance.now();
    if (now - this.lastStored >= this.burst.withinMs) this.burstSince = now;
    // Its second delivery makes it a burst. Holding again before the ingest has caught up would starve it
    // of bursts that come one after another.
    else if (this.lastStored === this.burstSince && this.caughtUp) {
      this.holdSince = now;
      this.caughtUp = false;
    }
    this.lastStored = now;
    this.wake();
  }

  /** A delivery may be waiting. */
  wake(): void {
    if (this.stopped) return;
    const atOnce = this.ingestAtOnce();
    if (this.running >= atOnce) {
      this.woken = true;
      if (atOnce === 0) this.wakeWhenHoldEnds();
      return;
    }
    this.running++;
    // Woken by a request, it takes whatever waits: its lines are not that request's.
    const loop = outsideLogContext(() => this.drain()).finally(() => this.loops.delete(loop));
    this.loops.add(loop);
  }

  /**
   * While deliveries are arriving, the webhook's answers go first (Alertmanager waits on them, and a
   * delivery is safe once stored). On hold, no new ingest starts: its statements and Slack work would take
   * the cores and PostgreSQL's time the answers need. Then one at a time, and the rest once the burst is
   * over. A lone delivery (the first of what may become a burst) is taken at once. A flood that goes on
   * past a burst gets the full ingest: new groups' incidents must not wait behind it.
   */
  private ingestAtOnce(): number {
    const now = performance.now();
    const { withinMs, holdForMs, forAtMostMs } = this.burst;
    if (now - this.lastStored >= withinMs || now - this.burstSince >= forAtMostMs)
      return DELIVERIES_CONCURRENCY;
    return this.holdSince >= this.burstSince && now - this.holdSince < holdForMs ? 0 : 1;
  }

  /** On hold: nothing else wakes the worker when it ends but the next poll, up to 1 s on. */
  private wakeWhenHoldEnds(): void {
    if (this.holdEnds) return;
    const { withinMs, holdForMs, forAtMostMs } = this.burst;
    const ends = Math.min(
      this.lastStored + withinMs,
      this.holdSince + holdForMs,
      this.burstSince + forAtMostMs,
    );
    this.holdEnds = setTimeout(
      () => {
        this.holdEnds = undefined;
        this.wake();
      },
      Math.max(0, ends - performance.now()),
    );
  }

  private get burst(): typeof WEBHOOK_BURST {
    return this.deps.webhookBurst ?? WEBHOOK_BURST;
  }

  /** Stops taking deliveries; resolves once those being ingested are. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.poll);
    clearInterval(this.forget);
    clearTimeout(this.holdEnds);
    await this.idle();
  }

  /** Resolves once nothing is being ingested, and what was ingested has been passed on. */
  async idle(): Promise<void> {
    while (this.loops.size > 0) await Promise.all(this.loops);
  }

  private async drain(): Promise<void> {
    try {
      if (!(await this.queueAnswers())) return;
      while (!this.stopped) {
        // More loops than a busy webhook leaves room for: this one ends (and leaves the count at once, in
        // the finally below), and the others go on.
        if (this.running > this.ingestAtOnce()) {
          // Another loop may be between a claim that found nothing and its end: it looks once more.
          this.woken = true;
          return;
        }
        this.woken = false;
        let ingested: IngestedDelivery | undefined;
        const claimedAt = performance.now();
        try {
          ingested = await ingestNextDelivery(this.deps.pool, this.deps.config);
        } catch (err) {
          if (err instanceof IngestFailed) {
            // It waits its retry, and its group's later deliveries with it; the others go on.
            this.deps.logger.warn(
              { err, deliveryId: err.deliveryId },
              `alertmanager delivery: ${err.message}; it will be tried again`,
            );
            continue;
          }
          // The next poll tries again.
          if (isDatabaseOutOfReach(err))
            this.deps.logger.warn(
              { err },
              'alertmanager deliveries: the database is out of reach; they wait, stored',
            );
          else this.deps.logger.error({ err }, 'alertmanager deliveries: could not take the next one');
          return;
        }
        if (!ingested) {
          // A claim begun before the hold did not see what the hold kept; one beside another loop's does not
          // see the deliveries of the group that loop is ingesting.
          if (claimedAt > this.holdSince && this.running === 1) this.caughtUp = true;
          if (this.woken) continue;
          return;
        }
        // The queue did not take what it changed: if Redis is gone, the rest waits for it, stored.
        if (!(await this.tell(ingested)) && !(await this.queueAnswers())) return;
        // More may be waiting, and the webhook may have gone quiet: loops up to what it leaves room for.
        if (this.running < this.ingestAtOnce()) this.wake();
      }
    } finally {
      this.running--;
    }
  }

  /** A connection gone silent leaves a PING unanswered for as long as TCP takes to notice: not waited for. */
  private queueAnswers(): Promise<boolean> {
    return withTimeout(this.deps.queueAnswers(), ENQUEUE_TIMEOUT_MS).catch(() => false);
  }

  /**
   * Counted once ingested; what it changed is passed on best-effort, as each is reconciled. False when
   * the queue did not take it.
   */
  private async tell(delivery: IngestedDelivery): Promise<boolean> {
    const { metrics, logger } = this.deps;
    if (delivery.outcome === 'refused') {
      metrics.webhookDeliveries.inc({ outcome: 'refused' });
      // Alertmanager was told 200: nothing else will say that these alerts were dropped.
      logger.error(
        { deliveryId: delivery.deliveryId, groupKey: delivery.groupKey, error: delivery.error },
        `alertmanager delivery ${delivery.deliveryId} for group ${delivery.groupKey} was refused and its alerts dropped: ${delivery.error}`,
      );
      return true;
    }
    const { result } = delivery;
    metrics.webhookDeliveries.inc({ outcome: result.outcome });
    const { incident, updateDue, opening, resolved } = result;
    // The delivery's line at info when it changed an incident (its request's line is at debug).
    logger[CHANGED_NOTHING.has(result.outcome) ? 'debug' : 'info'](
      { deliveryId: delivery.deliveryId, outcome: result.outcome, incidentId: incident?.id },
      'alertmanager delivery ingested',
    );
    if (incident && result.outcome === 'reopened')
      metrics.incidentsReopened.inc({ severity: incident.severity });
    if (incident && resolved)
      metrics.timeToResolve.observe({ severity: incident.severity }, resolved.afterMs / 1000);
    const { leftOut } = result;
    if (incident && leftOut) metrics.truncatedResolutions.inc();
    if (!incident || !result.slackBehind) return true;
    return withTimeout(
      (async () => {
        await enqueueIncidentSync(this.deps.queue, incident.id, incident.version);
        // Reopened: its status updates are due again; the reminder its resolve left is moved.
        if (updateDue) await this.deps.effects.updateDue(incident.id, updateDue.updateCount, updateDue.dueAt);
        // Until someone acknowledges it, people are called.
        if (opening !== undefined) await this.deps.effects.opened(incident.id, opening);
        if (resolved) await this.deps.effects.resolved(incident.id);
        if (leftOut) {
          const asked = await this.deps.effects.alertsLeftOut(incident.id, leftOut.receiver);
          logger.warn(
            { deliveryId: delivery.deliveryId, incidentId: incident.id, leftOut: leftOut.alerts },
            `Alertmanager truncated a resolved notification of ${incidentRef(incident.id)} (max_alerts on its receiver): the ${leftOut.alerts} alerts it left out may still fire, so it stays open ${asked ? 'unless Alertmanager, asked now, has none of them live' : 'until a notification lists them or it is resolved by hand (configure alertmanager.urls to have Alertmanager asked)'}; unset max_alerts (config/alertmanager.example.yml)`,
          );
        }
      })(),
      ENQUEUE_TIMEOUT_MS,
    ).then(
      () => true,
      (err: unknown) => {
        // The reconcile pass brings Slack up to date and the escalation sweep finds it, within a minute.
        logger.warn(
          { err, deliveryId: delivery.deliveryId, incidentId: incident.id },
          'alertmanager delivery: ingested, but what it changed was not queued; the reconcile passes will',
        );
        return false;
      },
    );
  }
}
