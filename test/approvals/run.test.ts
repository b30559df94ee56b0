import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { actionDigest, findAction } from '../../src/actions/catalog.js';
import { ServiceLock } from '../../src/actions/serviceLock.js';
import { castVote, createRequest, loadRequest } from '../../src/approvals/requests.js';
import { type RunDeps, runApprovedRequest } from '../../src/approvals/run.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { RECORDER, recordedRuns } from '../support/rollouts.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';

/**
 * Issue 14, test 1: what fails around a run (Slack, Redis, a group not readable) never runs it twice. The
 * notifications are where the worker enqueues Slack syncs on Redis: here they fail as a cut Redis makes
 * them fail.
 */
describe('running an approved request', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let runLog: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url });
    await migrate(pool);
    runLog = join(dir, 'runs.jsonl');
    await writeFile(runLog, '');
  });
  afterAll(async () => {
    await pool.end();
    await database.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const dir = mkdtempSync(join(tmpdir(), 'run-'));
  // The rollout action runs until the test makes this file.
  const releaseFile = join(dir, 'release');
  const config = parseFileConfig(
    'test',
    `slack: { defaultChannel: C0DEFAULT1 }
services:
  payments-api:
    actions:
      - name: scale
        description: Scale it
        kind: scale
        driver: { type: command, argv: [node, ${RECORDER}, scale, '{{replicas}}'], env: { allow: [RUN_LOG] } }
        params: { replicas: { type: integer, min: 1, max: 20 } }
        approval: { approvers: ['@sre-oncall'], required: 1 }
        onInterrupted: retry
      - name: rollout
        description: Runs until the test says so
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, rollout, --until, ${releaseFile}], env: { allow: [RUN_LOG] } }
        approval: { approvers: ['@sre-oncall'], required: 1 }
      - name: dump
        description: Print what a binary tool prints
        kind: custom
        driver: { type: command, argv: [node, -e, 'process.stdout.write("done" + String.fromCharCode(0))'] }
        approval: { approvers: ['@sre-oncall'], required: 1 }
`,
  );
  const readGroup = { groupMembers: () => new Set(['U0BOB']), groupId: () => undefined };
  const deps = (overrides: Partial<RunDeps> = {}): RunDeps => ({
    pool,
    serviceLocks: pool,
    config,
    membership: readGroup,
    notify: { requestChanged: async () => {}, degradationDue: async () => {}, serviceFreed: async () => {} },
    metrics: new Metrics(),
    logger: createLogger('silent'),
    env: { ...process.env, RUN_LOG: runLog },
    secrets: [],
    ...overrides,
  });
  const runsOf = async (replicas: number) =>
    (await recordedRuns(runLog)).filter((run) => run.argv[1] === String(replicas)).length;
  const approved = async (replicas: number, action = 'scale') => {
    const request = await createRequest(pool, {
      incidentId: null,
      action,
      service: 'payments-api',
      params: action === 'scale' ? { replicas } : {},
      requestedBy: 'U0ALICE',
      channelId: 'C0DEFAULT1',
      threadTs: null,
      requiredApprovals: 1,
      expiresAfterMs: 15 * 60_000,
      hasDryRun: false,
      requestKey: `test:${action}:${replicas}`,
      actionDigest: actionDigest(findAction(config, 'payments-api', action)!),
    });
    await castVote(pool, request.id, 'U0BOB', 'approve', () => {});
    return request.id;
  };
  const neverStops = new AbortController().signal;

  it('runs once and records the outcome when Slack and Redis fail right after it is marked running', async () => {
    const id = await approved(3);
    const failing = {
      requestChanged: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
      },
      degradationDue: async () => {},
      serviceFreed: async () => {},
    };
    expect(await runApprovedRequest(deps({ notify: failing }), id, neverStops)).toBe('done');
    expect((await loadRequest(pool, id)).status).toBe('succeeded');
    // The sweep finds nothing left to do: a second pass runs nothing.
    await runApprovedRequest(deps(), id, neverStops);
    expect(await runsOf(3)).toBe(1);
  });

  it('gives a request back, approved, when its run fails before the driver starts, and then runs it once', async () => {
    const id = await approved(4);
    const unreadable = {
      groupId: () => undefined,
      groupMembers: () => {
        throw new Error('the membership cache is unreachable');
      },
    };
    await expect(runApprovedRequest(deps({ membership: unreadable }), id, neverStops)).rejects.toThrow(
      'unreachable',
    );
    const request = await loadRequest(pool, id);
    expect(request.status).toBe('approved');
    expect(request.driverStartedAt).toBeNull();
    expect(await runsOf(4)).toBe(0);

    await runApprovedRequest(deps(), id, neverStops);
    expect((await loadRequest(pool, id)).status).toBe('succeeded');
    expect(await runsOf(4)).toBe(1);
  });

  it('records the outcome of a driver whose output holds a NUL byte, which PostgreSQL text cannot', async () => {
    const id = await approved(0, 'dump');
    await runApprovedRequest(deps(), id, neverStops);
    const request = await loadRequest(pool, id);
    expect(request.status).toBe('succeeded');
    expect(request.output).toBe('done␀');
  });

  it("holds its service's lock on a client of its own, not one of the pool the commands share", async () => {
    const id = await approved(0, 'rollout');
    // The pool commands and clicks share, here of one client: a running action must leave it free.
    const commands = new pg.Pool({ connectionString: database.url, max: 1, connectionTimeoutMillis: 1000 });
    const serviceLocks = new pg.Pool({ connectionString: database.url, max: 1 });
    try {
      const running = runApprovedRequest(deps({ pool: commands, serviceLocks }), id, neverStops);
      // Failing before it is awaited, the test would otherwise leave its rejection unhandled.
      running.catch(() => {});
      await waitFor(async () => (await readFile(runLog, 'utf8')).includes('"rollout"'), 10_000, 'the run');
      expect((await commands.query('SELECT 1 AS answered')).rows).toEqual([{ answered: 1 }]);
      // The service is locked, on the client of serviceLocks.
      expect(await ServiceLock.tryAcquire(pool, 'payments-api')).toBeUndefined();
      expect(serviceLocks.totalCount - serviceLocks.idleCount).toBe(1);
      await writeFile(releaseFile, '');
      expect(await running).toBe('done');
      expect((await loadRequest(pool, id)).status).toBe('succeeded');
    } finally {
      await writeFile(releaseFile, '');
      await commands.end();
      await serviceLocks.end();
    }
  });
});
