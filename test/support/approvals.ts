import type { NewRequest } from '../../src/approvals/requests.js';
import type { Pool } from '../../src/db/pool.js';

/** An open incident to request actions in: the approval gate's tests need its row only. */
export async function insertIncident(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ id: number }>(
    "INSERT INTO incidents (title, severity, channel_id) VALUES ('Checkout errors', 'P2', 'C0OPS') RETURNING id::int AS id",
  );
  return rows[0]!.id;
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
