import pg from 'pg';
import { shortReason } from '../primitives/errors.js';

/** What one connection attempt to PostgreSQL found: its version, or why it could not be reached. */
export type PostgresReading = { reachable: true; version: string } | { reachable: false; problem: string };

/** Connects once, without retrying, and asks the server's version: for a start that must not hang. */
export async function probePostgres(url: string, timeoutMs = 3000): Promise<PostgresReading> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string }>(
      "SELECT current_setting('server_version') AS version",
    );
    return { reachable: true, version: rows[0]!.version };
  } catch (err) {
    return { reachable: false, problem: shortReason(err) };
  } finally {
    await client.end().catch(() => {});
  }
}
