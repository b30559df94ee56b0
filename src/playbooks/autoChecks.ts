import type pg from 'pg';
import { keysetPages } from '../db/keysetPages.js';
import { inTransaction } from '../db/pool.js';
import type { HealthCheck } from '../health/checkSchema.js';
import { healthRecord, type ServiceHealth } from '../health/checks.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import { BOT_ACTOR } from '../primitives/ids.js';
import { ownValue } from '../primitives/records.js';
import { anyAutoChecks, incidentLabels, type PlaybookCatalog, playbookFor } from './playbooks.js';

/**
 * A playbook's auto checks: the checks marked `auto: true` run by themselves when an alert opens (or
 * reopens) an incident, their result posted in its thread. In a storm, many incidents open for one
 * service at once: its checks run for the first, and the others within the playbook's autoChecksOncePer
 * say where that result is. What ran is recorded (playbook_check_runs) with the message that shows it,
 * so the job may be added again freely (a retry, the sweep, another worker): it then does nothing.
 */

/** What one opening of an incident runs, and where the result goes. */
export interface AutoChecksPlan {
  incidentId: number;
  opening: number;
  playbook: string;
  service: string;
  channelId: string;
  /** The root message, whose thread gets the result; null until Slack has it. */
  rootTs: string | null;
  labels: Record<string, string>;
  /**
   * The checks to run; or the incident they ran for lately, and when, instead; or nothing yet: the root
   * message is not in Slack, or the incident holding the service's window has not shown its result.
   */
  run: { checks: HealthCheck[] } | { coveredBy: number; at: Date } | { waitingFor: 'root' | 'holder' };
  /** How long the incident has been open (this opening): a wait grows with it. */
  openForMs: number;
  /** The playbook's window, for telling the covered incidents why. */
  oncePerMs: number;
}

interface PlannedIncident {
  state: string;
  opening: number;
  group_key: string | null;
  group_labels: Record<string, string>;
  common_labels: Record<string, string>;
  channel_id: string;
  root_ts: string | null;
  open_for_ms: number;
  done: boolean;
}

/**
 * The auto checks due for this opening of the incident, with the service's window claimed for it; none
 * when they ran already, the incident is no longer at that opening (or open), or its playbook has none.
 * Claiming is repeatable: the incident that holds the window keeps it on a second look. The window is
 * claimed only once the result can be posted (the root is in Slack), and another incident is pointed at
 * the holder only once the holder's result is shown: one that never shows it (resolved first) gives the
 * window up to the next.
 */
export async function planAutoChecks(
  pool: pg.Pool,
  config: PlaybookCatalog,
  job: { incidentId: number; opening: number },
): Promise<AutoChecksPlan | undefined> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<PlannedIncident>(
      `SELECT state, reopen_count AS opening, group_key, group_labels, common_labels, channel_id, root_ts,
              (extract(epoch FROM now() - opened_at) * 1000)::float8 AS open_for_ms,
              EXISTS (SELECT 1 FROM playbook_check_runs r WHERE r.incident_id = i.id AND r.opening = $2) AS done
         FROM incidents i WHERE id = $1`,
      [job.incidentId, job.opening],
    );
    const incident = rows[0];
    if (!incident || incident.done || incident.state !== 'open' || incident.opening !== job.opening)
      return undefined;
    const subject = {
      groupKey: incident.group_key,
      groupLabels: incident.group_labels,
      commonLabels: incident.common_labels,
    };
    const playbook = playbookFor(config, subject);
    const service = playbook && ownValue(config.services, playbook.service);
    if (!playbook || !service) return undefined;
    const checks = playbook.checks
      .filter((c) => c.auto)
      .flatMap(({ check }) => service.checks.filter((c) => c.name === check));
    if (checks.length === 0) return undefined;
    const plan = {
      incidentId: job.incidentId,
      opening: job.opening,
      playbook: playbook.name,
      service: playbook.service,
      channelId: incident.channel_id,
      rootTs: incident.root_ts,
      labels: incidentLabels(subject),
      oncePerMs: playbook.autoChecksOncePer,
      openForMs: incident.open_for_ms,
    };
    if (incident.root_ts === null) return { ...plan, run: { waitingFor: 'root' as const } };
    const claimed = await db.query(
      `INSERT INTO service_auto_checks (service, incident_id, opening) VALUES ($1, $2, $3)
       ON CONFLICT (service) DO UPDATE
          SET incident_id = excluded.incident_id, opening = excluded.opening, checked_at = now()
        WHERE service_auto_checks.checked_at <= now() - $4 * interval '1 millisecond'
       RETURNING 1`,
      [playbook.service, job.incidentId, job.opening, playbook.autoChecksOncePer],
    );
    if (claimed.rowCount === 1) return { ...plan, run: { checks } };
    const { rows: holders } = await db.query<{
      incident_id: number;
      opening: number;
      checked_at: Date;
      shown: boolean;
      abandoned: boolean;
    }>(
      `SELECT s.incident_id::int AS incident_id, s.opening, s.checked_at,
              EXISTS (SELECT 1 FROM playbook_check_runs r
                       WHERE r.incident_id = s.incident_id AND r.opening = s.opening) AS shown,
              NOT EXISTS (SELECT 1 FROM incidents h
                           WHERE h.id = s.incident_id AND h.state = 'open' AND h.reopen_count = s.opening) AS abandoned
         FROM service_auto_checks s WHERE s.service = $1`,
      [playbook.service],
    );
    const holder = holders[0]!;
    // This opening holds the window already: a look again after a crash runs its checks again.
    if (holder.incident_id === job.incidentId && holder.opening === job.opening)
      return { ...plan, run: { checks } };
    if (holder.shown) return { ...plan, run: { coveredBy: holder.incident_id, at: holder.checked_at } };
    if (!holder.abandoned) return { ...plan, run: { waitingFor: 'holder' as const } };
    // The holder resolved (or reopened) before showing anything: its claim passes to this opening.
    const taken = await db.query(
      `UPDATE service_auto_checks SET incident_id = $2, opening = $3, checked_at = now()
        WHERE service = $1 AND incident_id = $4 AND opening = $5`,
      [playbook.service, job.incidentId, job.opening, holder.incident_id, holder.opening],
    );
    return { ...plan, run: taken.rowCount === 1 ? { checks } : { waitingFor: 'holder' as const } };
  });
}

/**
 * Records that the plan's checks ran (or were covered) and the message that shows it, in the caller's
 * transaction (the one that settles the post). The timeline keeps the result for the post-mortem.
 */
export async function recordAutoChecks(
  db: pg.ClientBase,
  plan: AutoChecksPlan,
  result: ServiceHealth | undefined,
  slackTs: string,
): Promise<void> {
  const inserted = await db.query(
    `INSERT INTO playbook_check_runs (incident_id, opening, playbook, service, covered_by, slack_ts)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
    [
      plan.incidentId,
      plan.opening,
      plan.playbook,
      plan.service,
      'coveredBy' in plan.run ? plan.run.coveredBy : null,
      slackTs,
    ],
  );
  if (inserted.rowCount !== 1 || !result) return;
  await addTimelineEntries(
    db,
    plan.incidentId,
    [
      {
        kind: 'health_check',
        actor: BOT_ACTOR,
        data: { ...healthRecord(plan.service, result), playbook: plan.playbook },
      },
    ],
    slackTs,
  );
}

const SWEEP_PAGE = 1000;

/**
 * Incidents opened (or reopened) within `withinMs` whose playbook has auto checks and no record of them
 * for that opening: a job lost between the webhook's commit and its enqueue, or lost by Redis.
 */
export async function autoChecksDue(
  pool: pg.Pool,
  config: PlaybookCatalog,
  withinMs: number,
): Promise<Array<{ incidentId: number; opening: number }>> {
  const due: Array<{ incidentId: number; opening: number }> = [];
  // A storm's incidents would be read a page at a time to find no playbook that checks any of them.
  if (!anyAutoChecks(config)) return due;
  // Read a page at a time: playbooks match in code, so a storm's incidents that no playbook checks stay
  // in the rows and would otherwise hide, behind one page's worth of them, the incidents after.
  const incidents = keysetPages(
    async (after, limit) =>
      (
        await pool.query<{
          incidentId: number;
          opening: number;
          groupKey: string;
          groupLabels: Record<string, string>;
          commonLabels: Record<string, string>;
        }>(
          `SELECT id::int AS "incidentId", reopen_count AS opening, group_key AS "groupKey",
                  group_labels AS "groupLabels", common_labels AS "commonLabels"
             FROM incidents i
            WHERE state = 'open' AND group_key IS NOT NULL AND opened_at > now() - $1 * interval '1 millisecond'
              AND id > $2
              AND NOT EXISTS (SELECT 1 FROM playbook_check_runs r
                               WHERE r.incident_id = i.id AND r.opening = i.reopen_count)
            ORDER BY id LIMIT $3`,
          [withinMs, after, limit],
        )
      ).rows,
    (incident) => incident.incidentId,
    SWEEP_PAGE,
  );
  for await (const incident of incidents)
    if (playbookFor(config, incident)?.checks.some((c) => c.auto))
      due.push({ incidentId: incident.incidentId, opening: incident.opening });
  return due;
}
