import type pg from 'pg';
import { discardClient } from '../db/pool.js';

/**
 * One action at a time per service, across every worker host: a PostgreSQL session advisory lock, held on
 * a connection of its own for as long as the driver runs. Session locks need a direct connection (or
 * PgBouncer in session mode): in transaction mode the lock would belong to whichever client is next.
 *
 * A lock is only as good as the session holding it. If that connection dies (a failover, an
 * idle_session_timeout, a network cut), another worker may take the lock and run on the same service, so
 * `lost` aborts and the run stops its driver. A connection that dies loudly is seen at once; a silent one
 * (packets dropped) by a heartbeat query on it, within LOST_WITHIN_MS.
 */

const HEARTBEAT_EVERY_MS = 5000;
const HEARTBEAT_TIMEOUT_MS = 5000;
/** The longest a silently cut lock connection goes unnoticed: one heartbeat interval and its timeout. */
export const LOST_WITHIN_MS = HEARTBEAT_EVERY_MS + HEARTBEAT_TIMEOUT_MS;

export class ServiceLock {
  readonly #controller = new AbortController();
  readonly #heartbeat: NodeJS.Timeout;
  #released = false;
  readonly #failed = (err: Error) => this.#lose(`its database connection failed: ${err.message}`);
  readonly #ended = () => this.#lose('its database connection ended');

  private constructor(
    private readonly pool: pg.Pool,
    private readonly client: pg.PoolClient,
    private readonly service: string,
  ) {
    // The pool's own listener keeps a lost connection from ending the process; these end the run.
    client.on('error', this.#failed);
    client.on('end', this.#ended);
    this.#heartbeat = setInterval(() => void this.#beat(), HEARTBEAT_EVERY_MS);
    this.#heartbeat.unref();
  }

  /** Takes the service's lock without waiting; undefined when another run holds it. */
  static async tryAcquire(pool: pg.Pool, service: string): Promise<ServiceLock | undefined> {
    const client = await pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext('incident-bot:service'), hashtext($1)) AS locked",
        [service],
      );
      if (rows[0]!.locked) return new ServiceLock(pool, client, service);
    } catch (err) {
      client.release(true);
      throw err;
    }
    client.release();
    return undefined;
  }

  /** Whether some run holds the service's lock now, read without taking it. */
  static async isTaken(pool: pg.Pool, service: string): Promise<boolean> {
    // A lock taken on two int4 keys shows them as classid and objid, with objsubid 2. Advisory locks are
    // the database's own: another database's bot, on the same server, may hold the same keys.
    const { rows } = await pool.query<{ taken: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks
                       WHERE locktype = 'advisory' AND granted AND objsubid = 2
                         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                         AND classid = hashtext('incident-bot:service')::oid AND objid = hashtext($1)::oid) AS taken`,
      [service],
    );
    return rows[0]!.taken;
  }

  /** Aborts, with the reason as an Error, once the lock can no longer be trusted to be held. */
  get lost(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Gives the lock back. A connection that cannot say so, failing or silent for HEARTBEAT_TIMEOUT_MS (gone
   * quiet since its last heartbeat), is closed and its session ended, which releases the lock in
   * PostgreSQL; the driver was stopped before, so another run may then take it.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#heartbeat);
    // A pooled connection outlives this lock: it must not keep its listeners.
    this.client.off('error', this.#failed).off('end', this.#ended);
    const unlocked =
      !this.lost.aborted &&
      (await answerOf(
        this.client.query("SELECT pg_advisory_unlock(hashtext('incident-bot:service'), hashtext($1))", [
          this.service,
        ]),
      )) === 'answered';
    if (unlocked) this.client.release();
    else await discardClient(this.pool, this.client);
  }

  async #beat(): Promise<void> {
    if (this.#released || this.lost.aborted) return;
    const answer = await answerOf(this.client.query('SELECT 1'));
    if (answer === 'silent')
      this.#lose(`its database connection did not answer within ${HEARTBEAT_TIMEOUT_MS / 1000} s`);
    else if (answer instanceof Error) this.#lose(`its database connection failed: ${answer.message}`);
  }

  #lose(why: string): void {
    if (this.#released || this.lost.aborted) return;
    clearInterval(this.#heartbeat);
    this.#controller.abort(new Error(`lost the lock on ${this.service}: ${why}`));
  }
}

/** How a query on the lock's connection ended: answered, failed, or silent for HEARTBEAT_TIMEOUT_MS. */
async function answerOf(query: Promise<unknown>): Promise<'answered' | 'silent' | Error> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<'silent'>((resolve) => {
    timer = setTimeout(() => resolve('silent'), HEARTBEAT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([query.then(() => 'answered' as const), silent]);
  } catch (err) {
    return err as Error;
  } finally {
    clearTimeout(timer);
  }
}
