import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import { BOT_ACTOR } from '../primitives/ids.js';

/**
 * Degradation is state the bot tracks: a service runs degraded from a successful enable action until a
 * successful disable action; the incident the enabling request belonged to shows it.
 */
export async function recordDegradation(
  db: pg.ClientBase | pg.Pool,
  request: { id: number; service: string; incidentId: number | null },
  change: 'enable' | 'disable',
): Promise<void> {
  if (change === 'enable') {
    await db.query(
      `INSERT INTO service_degradations (service, request_id, incident_id) VALUES ($1, $2, $3)
       ON CONFLICT (service) DO UPDATE SET request_id = EXCLUDED.request_id,
         incident_id = COALESCE(EXCLUDED.incident_id, service_degradations.incident_id)`,
      [request.service, request.id, request.incidentId],
    );
  } else {
    await db.query('DELETE FROM service_degradations WHERE service = $1', [request.service]);
  }
}

/**
 * Reminds the incident that enabled degradation on `service`, if the service still runs degraded and
 * the reminder is due. Returns when to look again (null once degradation is off).
 */
export async function remindDegradation(
  pool: pg.Pool,
  service: string,
  everyMs: number,
): Promise<{ incidentId?: number; version?: number; nextDueAt: Date | null }> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<{
      incident_id: number | null;
      due: Date;
      overdue: boolean;
      commander: string | null;
    }>(
      `SELECT d.incident_id::int AS incident_id,
              COALESCE(d.reminded_at, d.enabled_at) + $2::bigint * interval '1 millisecond' AS due,
              COALESCE(d.reminded_at, d.enabled_at) + $2::bigint * interval '1 millisecond' <= now() AS overdue,
              (SELECT user_id FROM incident_roles r WHERE r.incident_id = d.incident_id AND r.role = 'commander') AS commander
         FROM service_degradations d WHERE service = $1 FOR UPDATE`,
      [service, everyMs],
    );
    const degraded = rows[0];
    if (!degraded) return { nextDueAt: null };
    if (!degraded.overdue) return { nextDueAt: degraded.due };
    await db.query('UPDATE service_degradations SET reminded_at = now() WHERE service = $1', [service]);
    const nextDueAt = new Date(Date.now() + everyMs);
    if (degraded.incident_id === null) return { nextDueAt };
    await addTimelineEntries(db, degraded.incident_id, [
      {
        kind: 'reminder',
        actor: BOT_ACTOR,
        data: {
          reminder: 'degradation',
          service,
          ...(degraded.commander ? { commander: degraded.commander } : {}),
        },
      },
    ]);
    const bumped = await db.query<{ version: number }>(
      'UPDATE incidents SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version',
      [degraded.incident_id],
    );
    return { incidentId: degraded.incident_id, version: bumped.rows[0]!.version, nextDueAt };
  });
}

/** Every service running degraded, with when its next reminder is due: the reminder jobs are rebuilt from it. */
export async function degradationsDue(
  db: pg.Pool,
  everyMs: number,
): Promise<Array<{ service: string; dueAt: Date }>> {
  const { rows } = await db.query<{ service: string; dueAt: Date }>(
    `SELECT service, COALESCE(reminded_at, enabled_at) + $1::bigint * interval '1 millisecond' AS "dueAt"
       FROM service_degradations ORDER BY service`,
    [everyMs],
  );
  return rows;
}
