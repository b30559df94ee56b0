import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { paymentsApiCatalog, startHealthyEndpoint } from '../support/healthEndpoint.js';
import { recordedRuns } from '../support/rollouts.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import {
  blockActionsPayload,
  clickButton,
  clickOn,
  INCIDENT_CHANNEL,
  lastEphemeralTo,
  messageOf,
  SRE,
  sendPayload,
  slashCommand,
} from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;
const APPROVERS = Array.from({ length: 20 }, (_, i) => `U0APPROVER${i}`);

function catalogYaml(healthUrl: string) {
  return `${DEFAULT_TEST_CONFIG}
actions:
  membershipRefresh: 1s
${paymentsApiCatalog(healthUrl)}      - name: scale
        description: Scale the payments-api deployment
        kind: scale
        driver: { type: command, argv: [node, ${RECORDER}, scale, '{{replicas}}'], env: { allow: [RUN_LOG] } }
        params: { replicas: { type: integer, min: 1, max: 20 } }
        approval: { approvers: [${APPROVERS.join(', ')}], required: 1, expiresAfter: 15m }
        timeout: 30s
      - name: announce
        description: Send a message through the deploy tool
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, announce, '--message={{message}}'], env: { allow: [RUN_LOG] } }
        params: { message: { type: string } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: flush-cache
        description: Flush the payments cache
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, flush-cache], env: { allow: [RUN_LOG] } }
        approval: { approvers: ['@payments-oncall'], required: 2 }
      - name: restart-quick-expiry
        description: Restart, with an approval window of a second
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, restart], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1, expiresAfter: 1s }
      - name: rollback
        description: Roll the deploy back, asked for only by the leads
        kind: rollback
        driver: { type: command, argv: [node, ${RECORDER}, rollback], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
        requesters: [${SRE.alice}, '@payments-leads']
`;
}

describe('/action with approvals, end to end', () => {
  let bot: TestBot;
  let runLog: string;
  let health: { url: string; close: () => void };
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'actions-'));
    runLog = join(dir, 'runs.jsonl');
    await writeFile(runLog, '');
    process.env.RUN_LOG = runLog;
    health = await startHealthyEndpoint();
    bot = await startTestBot({ configYaml: catalogYaml(health.url) });
  });
  afterAll(async () => {
    await bot?.stop();
    health?.close();
  });

  const runs = () => recordedRuns(runLog);
  const requestMessage = (ref: string) =>
    bot.slack.emulator.allMessages().find((m) => JSON.stringify(m.blocks).includes(`*${ref} ·`));
  const action = (text: string, options: { user?: string; channel?: string; trigger?: string } = {}) =>
    slashCommand(bot, text, { ...options, command: '/action' });
  const request = async (text: string, user: string = SRE.alice) => {
    const answer = await action(text, { user });
    const ref = /Requested (ACT-\d+)/.exec(answer.text)?.[1];
    if (!ref) throw new Error(`not requested: ${answer.text}`);
    await waitFor(() => requestMessage(ref), 20_000, 'approval message');
    return { ref, id: ref.slice(4) };
  };
  const statusOf = async (id: string) =>
    (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [Number(id)])).rows[0]
      ?.status;

  it('posts an approval request, refuses the requester and non-approvers, runs once an approver approves', async () => {
    const { ref, id } = await request('scale payments-api replicas=6');
    const message = JSON.stringify(requestMessage(ref)!.blocks);
    expect(message).toContain('`replicas` = `6`');
    expect(message).toContain('action_approve');
    expect(message).toContain('Waiting for approval');

    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.alice });
    await waitFor(
      () => lastEphemeralTo(bot, SRE.alice).includes('someone else has to approve'),
      20_000,
      'self-approval refusal',
    );
    await clickOn(bot, 'request', id, 'action_approve', { user: 'U0MALLORY' });
    await waitFor(
      () => lastEphemeralTo(bot, 'U0MALLORY').includes('You are not an approver'),
      20_000,
      'non-approver refusal',
    );
    expect(await statusOf(id)).toBe('pending');

    await clickOn(bot, 'request', id, 'action_approve', { user: APPROVERS[3]! });
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'succeeded');
    expect((await runs()).filter((r) => r.argv[0] === 'scale')).toEqual(
      [{ argv: ['scale', '6'], pid: expect.any(Number), at: expect.any(Number) }].map(({ argv }) =>
        expect.objectContaining({ argv }),
      ),
    );
    await waitFor(
      () => JSON.stringify(requestMessage(ref)!.blocks).includes('Succeeded'),
      20_000,
      'message shows success',
    );
    expect(JSON.stringify(requestMessage(ref)!.blocks)).not.toContain('action_approve');

    const audit = await bot.app.pool.query(
      'SELECT actor, from_status, to_status, from_version, to_version FROM action_request_events WHERE request_id = $1 ORDER BY id',
      [Number(id)],
    );
    expect(audit.rows.map((r) => `${r.from_status ?? '∅'}→${r.to_status}`)).toEqual([
      '∅→pending',
      'pending→approved',
      'approved→running',
      'running→succeeded',
    ]);
    expect(audit.rows[1].actor).toBe(APPROVERS[3]);
    for (const row of audit.rows.slice(1)) expect(row.to_version).toBeGreaterThan(row.from_version);
  });

  it('runs an action once when twenty approvers click Approve at the same moment', async () => {
    const before = (await runs()).length;
    const { id } = await request('scale payments-api replicas=9');
    await Promise.all(APPROVERS.map((user) => clickOn(bot, 'request', id, 'action_approve', { user })));
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'succeeded');
    await waitForQueueIdle(bot.app.actions, 20_000, ['expire']);
    expect((await runs()).slice(before).filter((r) => r.argv[1] === '9')).toHaveLength(1);
    const approvals = await bot.app.pool.query(
      "SELECT count(*)::int AS n FROM action_request_events WHERE request_id = $1 AND to_status = 'approved'",
      [Number(id)],
    );
    expect(approvals.rows[0].n).toBe(1);
  });

  it('hands a parameter full of shell metacharacters to the process as one literal argument', async () => {
    const message = 'a; rm -rf / $(id) `whoami` | cat > /tmp/x && echo "quoted"';
    const { id } = await request(`announce payments-api message="${message.replace(/"/g, '')}"`);
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'succeeded');
    const run = (await runs()).find((r) => r.argv[0] === 'announce')!;
    expect(run.argv).toEqual(['announce', `--message=${message.replace(/"/g, '')}`]);
  });

  it('takes approvers from a user group, and waits for two distinct ones when the policy says two', async () => {
    bot.slack.emulator.addUserGroup('S0PAYONCALL', 'payments-oncall', ['U0DANA', 'U0EVE']);
    // The bot reads the group's members in the background, never while a click waits.
    await waitFor(
      () => bot.slack.emulator.callsOf('usergroups.users.list').some((c) => c.ok),
      20_000,
      'the group read',
    );
    const { ref, id } = await request('flush-cache payments-api');
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    await waitFor(
      () => lastEphemeralTo(bot, SRE.bob).includes('You are not an approver'),
      20_000,
      'outsider refused',
    );
    await clickOn(bot, 'request', id, 'action_approve', { user: 'U0DANA' });
    await waitFor(
      () => lastEphemeralTo(bot, 'U0DANA').includes(`Your approval of ${ref} is recorded: 1 of 2`),
      20_000,
      'first approval',
    );
    await clickOn(bot, 'request', id, 'action_approve', { user: 'U0DANA' });
    await waitFor(
      () => lastEphemeralTo(bot, 'U0DANA').includes('already voted'),
      20_000,
      'same person twice',
    );
    expect(await statusOf(id)).toBe('pending');
    await clickOn(bot, 'request', id, 'action_approve', { user: 'U0EVE' });
    // The one whose vote decided it is told at once, not only by the message's update.
    await waitFor(
      () => lastEphemeralTo(bot, 'U0EVE').includes(`You approved ${ref}: it runs now`),
      20_000,
      'the deciding approver told',
    );
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'ran after the second approver');
  });

  it('counts a vote only from the approval message of the request it names', async () => {
    const { ref, id } = await request('scale payments-api replicas=4');
    const message = await messageOf(bot, 'request', id);
    const voter = APPROVERS[5]!;
    const votes = async () =>
      (
        await bot.app.pool.query('SELECT count(*)::int AS n FROM action_votes WHERE request_id = $1', [
          Number(id),
        ])
      ).rows[0].n;
    const real = blockActionsPayload('action_approve', id, { user: voter, ...message });
    const forged: Array<[string, Record<string, unknown>]> = [
      [
        'another channel',
        blockActionsPayload('action_approve', id, {
          user: voter,
          channel: 'C0ELSEWHERE',
          messageTs: message.messageTs,
        }),
      ],
      [
        'another message',
        blockActionsPayload('action_approve', id, { user: voter, channel: message.channel }),
      ],
      ['channel.id elsewhere', { ...real, channel: { id: 'C0ELSEWHERE' } }],
      ['message.ts elsewhere', { ...real, message: { ts: '1.000001' } }],
      ['no container', { ...real, container: undefined }],
    ];
    for (const [what, payload] of forged) {
      const told = bot.slack.emulator.callsOf('chat.postEphemeral').length;
      expect(await sendPayload(bot, payload), what).toBe(200);
      await waitFor(() => bot.slack.emulator.callsOf('chat.postEphemeral').length > told, 20_000, what);
      expect(lastEphemeralTo(bot, voter), what).toContain(`does not come from ${ref}'s approval message`);
    }
    expect(await votes()).toBe(0);
    expect(await statusOf(id)).toBe('pending');

    expect(await sendPayload(bot, real)).toBe(200);
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'succeeded');
  });

  it('counts no vote while the approval message is not posted yet', async () => {
    const held = bot.slack.emulator.hold('chat.postMessage');
    const ref = /Requested (ACT-\d+)/.exec((await action('scale payments-api replicas=5')).text)![1]!;
    const id = ref.slice(4);
    await held.reached;
    await clickButton(bot, 'action_approve', id, { user: APPROVERS[6]! });
    await waitFor(
      () => lastEphemeralTo(bot, APPROVERS[6]!).includes(`${ref}'s approval message is not posted yet`),
      20_000,
      'refusal',
    );
    held.release();
    const { rows } = await bot.app.pool.query(
      'SELECT count(*)::int AS n FROM action_votes WHERE request_id = $1',
      [Number(id)],
    );
    expect(rows[0].n).toBe(0);
    expect(await statusOf(id)).toBe('pending');
    await messageOf(bot, 'request', id);
  });

  it('acts once on a /action request, cancel or /health delivered twice', async () => {
    const count = async (table: string) =>
      (await bot.app.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
    const requests = await count('action_requests');
    const first = await action('scale payments-api replicas=3', { trigger: 'trigger-act-dup' });
    const ref = /Requested (ACT-\d+)/.exec(first.text)![1]!;
    await waitFor(() => requestMessage(ref), 20_000, 'approval message');
    const replay = await action('scale payments-api replicas=3', { trigger: 'trigger-act-dup' });
    expect(replay.text).toMatch(/already handled/);
    expect(await count('action_requests')).toBe(requests + 1);

    expect((await action(`cancel ${ref}`, { trigger: 'trigger-cancel-dup' })).text).toBe(`Cancelled ${ref}.`);
    const events = await count('action_request_events');
    expect((await action(`cancel ${ref}`, { trigger: 'trigger-cancel-dup' })).text).toMatch(
      /already handled/,
    );
    expect(await count('action_request_events')).toBe(events);

    await waitForQueueIdle(bot.app.slackSync);
    const posts = bot.slack.emulator.callsOf('chat.postMessage').length;
    const health = (trigger: string) => slashCommand(bot, 'payments-api', { command: '/health', trigger });
    expect((await health('trigger-health-dup')).text).toMatch(/Running the health checks/);
    await waitFor(
      () => bot.slack.emulator.callsOf('chat.postMessage').length > posts,
      20_000,
      'health result',
    );
    expect((await health('trigger-health-dup')).text).toMatch(/already handled/);
    await waitForQueueIdle(bot.app.health);
    expect(bot.slack.emulator.callsOf('chat.postMessage').length).toBe(posts + 1);
    // Each request posts its approval message once.
    expect(
      bot.slack.emulator.allMessages().filter((m) => JSON.stringify(m.blocks).includes(`*${ref} ·`)),
    ).toHaveLength(1);
  });

  it('gives back the claim of a /health whose check could not be queued, so trying again works', async () => {
    const add = vi.spyOn(bot.app.health, 'add').mockRejectedValueOnce(new Error('Redis is away'));
    const health = () =>
      slashCommand(bot, 'payments-api', { command: '/health', trigger: 'trigger-health-q' });
    try {
      expect((await health()).text).toMatch(/went wrong on our side/);
      expect((await health()).text).toMatch(/Running the health checks/);
      expect((await health()).text).toMatch(/already handled/);
    } finally {
      add.mockRestore();
    }
    await waitForQueueIdle(bot.app.health);
  });

  it('refuses bad requests with the usage, writing nothing', async () => {
    const count = async () =>
      (await bot.app.pool.query('SELECT count(*)::int AS n FROM action_requests')).rows[0].n;
    const before = await count();
    const cases: Array<[string, RegExp]> = [
      ['scale nowhere-api replicas=3', /Unknown service "nowhere-api"\. Known: payments-api/],
      [
        'reboot payments-api',
        /payments-api has no action "reboot"\. Its actions: scale, announce, flush-cache/,
      ],
      [
        'scale payments-api replicas=-1',
        /replicas must be at least 1, got -1[\s\S]*Usage: `\/action scale payments-api replicas=<whole number ≥ 1 ≤ 20>`/,
      ],
      ['scale payments-api replicas=abc', /replicas must be a whole number, got "abc"/],
      ['scale payments-api replicas=999', /replicas must be at most 20, got 999/],
      ['scale payments-api replicas=3 force=true', /unknown parameter force/],
      ['scale payments-api', /replicas is required/],
      ['scale payments-api 3', /"3" is not a parameter: write name=value/],
    ];
    for (const [text, expected] of cases) {
      const answer = await action(text);
      expect(answer.responseType, text).toBe('ephemeral');
      expect(answer.text, text).toMatch(expected);
    }
    expect(await count()).toBe(before);
  });

  it('lets only the listed requesters request an action that lists them, telling anyone else who may and writing nothing', async () => {
    bot.slack.emulator.addUserGroup('S0PAYLEADS', 'payments-leads', [SRE.carol]);
    // Read in the background like an approvers' group: the request waits for no Slack call.
    await waitFor(
      () =>
        bot.slack.emulator
          .callsOf('usergroups.users.list')
          .some((c) => c.ok && c.params.usergroup === 'S0PAYLEADS'),
      20_000,
      'the requesters group read',
    );
    const written = async () => ({
      requests: (await bot.app.pool.query('SELECT count(*)::int AS n FROM action_requests')).rows[0].n,
      jobs: [
        ...(await bot.app.actions.getJobs()).map((j) => j.id),
        ...(await bot.app.slackSync.getJobs()).map((j) => j.id),
      ],
    });
    const before = await written();
    const refused = await action('rollback payments-api', { user: 'U0MALLORY' });
    expect(refused.responseType).toBe('ephemeral');
    expect(refused.text).toContain(
      `You may not request rollback on payments-api. Requesters: <@${SRE.alice}>, <!subteam^S0PAYLEADS>.`,
    );
    const after = await written();
    expect(after.requests).toBe(before.requests);
    expect(after.jobs.filter((id) => !before.jobs.includes(id))).toEqual([]);

    await request('rollback payments-api', SRE.alice);
    await request('rollback payments-api', SRE.carol);
  });

  it('expires a request nobody approved in time, and refuses votes after', async () => {
    const { ref, id } = await request('restart-quick-expiry payments-api');
    await waitFor(async () => (await statusOf(id)) === 'expired', 20_000, 'expired');
    await waitFor(
      () => JSON.stringify(requestMessage(ref)!.blocks).includes('Expired'),
      20_000,
      'message shows expiry',
    );
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    await waitFor(() => lastEphemeralTo(bot, SRE.bob).includes(`${ref} is expired`), 20_000, 'refusal');
  });

  it('tells an approver who rejects a request at once that it will not run', async () => {
    const { ref, id } = await request('scale payments-api replicas=3');
    await clickOn(bot, 'request', id, 'action_reject', { user: APPROVERS[1]! });
    await waitFor(
      () => lastEphemeralTo(bot, APPROVERS[1]!).includes(`You rejected ${ref}: it will not run.`),
      20_000,
      'the rejecter told',
    );
    expect(await statusOf(id)).toBe('rejected');
  });

  it('lets the requester, and only the requester, cancel a waiting request', async () => {
    const { ref, id } = await request('scale payments-api replicas=2');
    expect((await action(`cancel ${ref}`, { user: SRE.bob })).text).toMatch(/Only <@U0ALICE>, who requested/);
    expect((await action('list')).text).toContain(ref);
    expect((await action(`cancel ${ref}`)).text).toBe(`Cancelled ${ref}.`);
    expect(await statusOf(id)).toBe('cancelled');
    await clickOn(bot, 'request', id, 'action_approve', { user: APPROVERS[0]! });
    await waitFor(() => lastEphemeralTo(bot, APPROVERS[0]!).includes('is cancelled'), 20_000, 'refusal');
  });

  it('runs health checks from /health and posts the result', async () => {
    const answer = await slashCommand(bot, 'payments-api', { channel: INCIDENT_CHANNEL, command: '/health' });
    expect(answer.status).toBe(200);
    const result = await waitFor(
      () =>
        bot.slack.emulator
          .channelMessages(INCIDENT_CHANNEL)
          .find((m) => JSON.stringify(m.blocks).includes('Health checks')),
      20_000,
      'health result',
    );
    expect(JSON.stringify(result.blocks)).toContain('✅ *health-endpoint* (http');
    expect((await slashCommand(bot, 'nowhere', { command: '/health' })).text).toMatch(
      /Unknown service "nowhere"/,
    );
  });

  it('takes a service name as data: "constructor" is an unknown service, not a member of Object.prototype', async () => {
    const settled = () =>
      Promise.all([waitForQueueIdle(bot.app.health), waitForQueueIdle(bot.app.slackSync)]);
    await settled();
    const posts = bot.slack.emulator.callsOf('chat.postMessage').length;
    const requests = (await bot.app.pool.query('SELECT count(*)::int AS n FROM action_requests')).rows[0].n;
    for (const [command, text] of [
      ['/health', 'constructor'],
      ['/action', 'scale constructor'],
      ['/action', 'scale constructor replicas=2'],
    ] as const) {
      const answer = await slashCommand(bot, text, { command });
      expect(answer.responseType, text).toBe('ephemeral');
      expect(answer.text, text).toMatch(/Unknown service "constructor"\. Known: payments-api\./);
    }
    await settled();
    expect(bot.slack.emulator.callsOf('chat.postMessage')).toHaveLength(posts);
    expect((await bot.app.pool.query('SELECT count(*)::int AS n FROM action_requests')).rows[0].n).toBe(
      requests,
    );
  });
});
