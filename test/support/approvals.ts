import { beforeAll } from 'vitest';
import type { NewRequest } from '../../src/approvals/requests.js';
import type { Pool } from '../../src/db/pool.js';
import { migratedDatabase } from './database.js';

/** An open incident to request actions in: the approval gate's tests need its row only. */
export async function insertIncident(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ id: number }>(
    "INSERT INTO incidents (title, severity, channel_id) VALUES ('Checkout errors', 'P2', 'C0OPS') RETURNING id::int AS id",
  );
  return rows[0]!.id;
}

/**
 * A database of the calling describe block's own with one open incident in it (insertIncident). Use the
 * getter inside a test.
 */
export function incidentOnDatabase(): () => { pool: Pool; incidentId: number } {
  const database = migratedDatabase();
  let incidentId: number | undefined;
  beforeAll(async () => {
    incidentId = await insertIncident(database());
  });
  return () => ({ pool: database(), incidentId: incidentId! });
}

/** A request to scale payments-api in `incidentId`, as `/action` or a playbook's button asks for it. */
export function scaleRequest(
  incidentId: number,
  fields: Partial<NewRequest> & Pick<NewRequest, 'requestKey'>,
): NewRequest {
  return {
    incidentId,
    action: 'scale',
    service: 'payments-api',
    params: { replicas: 6 },
    requestedBy: 'U0ALICE',
    channelId: 'C0OPS',
    threadTs: null,
    requiredApprovals: 1,
    expiresAfterMs: 15 * 60_000,
    hasDryRun: false,
    actionDigest: 'digest',
    ...fields,
  };
}
