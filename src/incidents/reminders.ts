import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import { BOT_ACTOR } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import type { IncidentsConfig } from './configSchema.js';
import { addTimelineEntries } from './timeline.js';

/**
 * Reminders are decided from Postgres when they fire, not when they were scheduled: whatever happened in
 * between (an update, a new severity, resolution) is taken into account, so a stale job does no harm.
 */

export interface ReminderOutcome {
  /** Slack must show this version (a reminder was recorded). */
  version?: number;
  /** When to look again; null when no reminder is due any more. */
  nextDueAt: Date | null;
}

export async function remindOverdueUpdate(
  pool: pg.Pool,
  config: { incidents: Pick<IncidentsConfig, 'updateIntervals'> },
  incidentId: number,
): Promise<ReminderOutcome> {
  return inTransaction(pool, async (db) => {
    await db.query('SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE', [incidentId]);
    // Read once the row is held (see remindMissingCommander): a commander assigned while this waited for
    // it is the one reminded.
    const { rows } = await db.query<{
      state: string;
      severity: Severity;
      due: Date | null;
      overdue: boolean;
      commander: string | null;
    }>(
      `SELECT state, severity, next_update_due_at AS due, next_update_due_at <= now() AS overdue,
              (SELECT user_id FROM incident_roles r WHERE r.incident_id = i.id AND r.role = 'commander') AS commander
         FROM incidents i WHERE id = $1`,
      [incidentId],
    );
    const incident = rows[0];
    if (incident?.state !== 'open' || !incident.due) return { nextDueAt: null };
    if (!incident.overdue) return { nextDueAt: incident.due };
    await addTimelineEntries(db, incidentId, [
      {
        kind: 'reminder',
        actor: BOT_ACTOR,
        data: {
          reminder: 'update',
          dueAt: incident.due.toISOString(),
          ...(incident.commander ? { commander: incident.commander } : {}),
        },
      },
    ]);
    // Remind again one interval later if still nobody posts an update.
    const interval = config.incidents.updateIntervals[incident.severity] ?? null;
    const { rows: updated } = await db.query<{ version: number; due: Date | null }>(
      `UPDATE incidents SET version = version + 1, updated_at = now(),
              next_update_due_at = CASE WHEN $2::bigint IS NULL THEN NULL ELSE now() + $2::bigint * interval '1 millisecond' END
        WHERE id = $1 RETURNING version, next_update_due_at AS due`,
      [incidentId, interval],
    );
    return { version: updated[0]!.version, nextDueAt: updated[0]!.due };
  });
}

/**
 * Reminds once, if the incident is still open with nobody in command. Run before its time (a job kept from
 * a database since restored), it waits for it. Once run, the reminder is no longer due: the sweep leaves it.
 */
export async function remindMissingCommander(pool: pg.Pool, incidentId: number): Promise<ReminderOutcome> {
  return inTransaction(pool, async (db) => {
    await db.query('SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE', [incidentId]);
    // Looked at once the row is held, in a statement of its own: the statement that waited for the row
    // reads the other tables as they were before the wait, and would miss a commander assigned, or this
    // reminder sent by another run of its job (a stalled one run again), meanwhile.
    const { rows } = await db.query<{ early: Date | null; due: boolean }>(
      `SELECT CASE WHEN commander_reminder_due_at > now() THEN commander_reminder_due_at END AS early,
              state = 'open'
              AND NOT EXISTS (SELECT 1 FROM incident_roles WHERE incident_id = i.id AND role = 'commander')
              AND NOT EXISTS (SELECT 1 FROM timeline_entries t WHERE t.incident_id = i.id AND t.kind = 'reminder'
                                AND t.data->>'reminder' = 'commander') AS due
         FROM incidents i WHERE id = $1`,
      [incidentId],
    );
    const incident = rows[0];
    if (!incident) return { nextDueAt: null };
    if (incident.early) return { nextDueAt: incident.early };
    if (!incident.due) {
      await db.query(
        'UPDATE incidents SET commander_reminder_due_at = NULL WHERE id = $1 AND commander_reminder_due_at IS NOT NULL',
        [incidentId],
      );
      return { nextDueAt: null };
    }
    await addTimelineEntries(db, incidentId, [
      { kind: 'reminder', actor: BOT_ACTOR, data: { reminder: 'commander' } },
    ]);
    const { rows: updated } = await db.query<{ version: number }>(
      `UPDATE incidents SET version = version + 1, updated_at = now(), commander_reminder_due_at = NULL
        WHERE id = $1 RETURNING version`,
      [incidentId],
    );
    return { version: updated[0]!.version, nextDueAt: null };
  });
}

/** A reminder PostgreSQL knows is due at `dueAt`. */
export interface DueReminder {
  reminder: 'update' | 'commander';
  incidentId: number;
  dueAt: Date;
}

/**
 * The reminders of open incidents, status updates and commanders, due (before `before`, when given): what
 * a worker's sweep makes sure is scheduled.
 */
export async function remindersDue(pool: pg.Pool, before?: Date): Promise<DueReminder[]> {
  const { rows } = await pool.query<{ id: number; update: Date | null; commander: Date | null }>(
    `SELECT id::int AS id,
            CASE WHEN next_update_due_at < $1 THEN next_update_due_at END AS update,
            CASE WHEN commander_reminder_due_at < $1 THEN commander_reminder_due_at END AS commander
       FROM incidents
      WHERE state = 'open' AND (next_update_due_at < $1 OR commander_reminder_due_at < $1)`,
    [before ?? 'infinity'],
  );
  return rows.flatMap((row) => [
    ...(row.update ? [{ reminder: 'update' as const, incidentId: row.id, dueAt: row.update }] : []),
    ...(row.commander ? [{ reminder: 'commander' as const, incidentId: row.id, dueAt: row.commander }] : []),
  ]);
}
