import type pg from 'pg';
import type { ActionRequest } from '../approvals/requests.js';

/**
 * Degradation is state the bot tracks: a service runs degraded from a successful enable action until a
 * successful disable action; the incident the enabling request belonged to shows it.
 */
export async function recordDegradation(
  pool: pg.Pool,
  request: ActionRequest,
  change: 'enable' | 'disable',
): Promise<void> {
  if (change === 'enable') {
    await pool.query(
      `INSERT INTO service_degradations (service, request_id, incident_id) VALUES ($1, $2, $3)
       ON CONFLICT (service) DO UPDATE SET request_id = EXCLUDED.request_id,
         incident_id = COALESCE(EXCLUDED.incident_id, service_degradations.incident_id)`,
      [request.service, request.id, request.incidentId],
    );
  } else {
    await pool.query('DELETE FROM service_degradations WHERE service = $1', [request.service]);
  }
}
