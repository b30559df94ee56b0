import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { redisUrl, setDatabaseReachable, waitFor, waitForQueueIdle } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { jsonOf, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';

function blocksText(blocks: unknown): string {
  return JSON.stringify(blocks);
}

describe('alert pipeline, end to end over HTTP', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const rootMessages = () => bot.slack.emulator.channelMessages(CHANNEL);
  const settle = () => waitForQueueIdle(bot.app.slackSync);

  it('opens one incident per firing group, with one root message in the routed channel', async () => {
    const res = await bot.deliver(payload({ group: 'CheckoutErrors', alerts: [{ instance: 'pod-1' }] }));
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    expect(body).toMatchObject({ outcome: 'created', incident: expect.stringMatching(/^INC-\d+$/) });

    const root = await waitFor(() => rootMessages()[0], 20_000, 'root message');
    await settle();
    expect(rootMessages()).toHaveLength(1);
    expect(root.blocks[0]).toMatchObject({ type: 'header' });
    const text = blocksText(root.blocks);
    expect(text).toContain('[P0]'); // severity=critical is P0 in the runbooks
    expect(text).toContain('CheckoutErrors');
    expect(text).toContain('1 firing, 0 resolved');
    expect(text).toContain('pod-1');
    expect(text).toContain('|Source>'); // generator link built by the bot
    expect(bot.slack.emulator.threadOf(CHANNEL, root.ts)).toHaveLength(0);
  });

  it('updates the root message in place and tells the thread when more alerts fire', async () => {
    const before = bot.slack.emulator.calls.length;
    const res = await bot.deliver(
      payload({ group: 'CheckoutErrors', alerts: [{ instance: 'pod-1' }, { instance: 'pod-2' }] }),
    );
    expect((await jsonOf(res)).outcome).toBe('updated');
    const root = rootMessages()[0]!;
    await waitFor(() => bot.slack.emulator.threadOf(CHANNEL, root.ts).length === 1, 20_000, 'thread reply');
    await settle();
    expect(rootMessages()).toHaveLength(1);
    expect(blocksText(rootMessages()[0]!.blocks)).toContain('2 firing, 0 resolved');
    const reply = bot.slack.emulator.threadOf(CHANNEL, root.ts)[0]!;
    expect(blocksText(reply.blocks)).toContain('1 alert started firing');
    expect(blocksText(reply.blocks)).toContain('pod-2');
    const calls = bot.slack.emulator.calls.slice(before).map((c) => c.method);
    expect(calls.sort()).toEqual(['chat.postMessage', 'chat.update']);
  });

  it('makes no Slack call for a duplicate delivery (a repeat, or another Alertmanager peer)', async () => {
    await settle();
    const before = bot.slack.emulator.calls.length;
    const same = payload({ group: 'CheckoutErrors', alerts: [{ instance: 'pod-1' }, { instance: 'pod-2' }] });
    const answers = await Promise.all([bot.deliver(same), bot.deliver(same), bot.deliver(same)]);
    for (const res of answers) expect((await jsonOf(res)).outcome).toBe('duplicate');
    await settle();
    expect(bot.slack.emulator.calls.length).toBe(before);
  });

  it('shows the group resolved on the root message and in the thread when every alert resolves', async () => {
    const res = await bot.deliver(
      payload({
        group: 'CheckoutErrors',
        status: 'resolved',
        alerts: [
          { instance: 'pod-1', status: 'resolved' },
          { instance: 'pod-2', status: 'resolved' },
        ],
      }),
    );
    expect((await jsonOf(res)).outcome).toBe('updated');
    const root = rootMessages()[0]!;
    await waitFor(() => blocksText(rootMessages()[0]!.blocks).includes('Resolved'), 20_000, 'resolved root');
    await settle();
    expect(blocksText(rootMessages()[0]!.blocks)).toContain('0 firing, 2 resolved');
    const replies = bot.slack.emulator.threadOf(CHANNEL, root.ts);
    expect(blocksText(replies.at(-1)!.blocks)).toContain('All alerts resolved');
    const { rows } = await bot.app.pool.query(
      "SELECT state FROM incidents WHERE group_key LIKE '%CheckoutErrors%'",
    );
    expect(rows).toEqual([{ state: 'resolved' }]);
  });

  it('routes by label matchers, first match wins, with the default channel for the rest', async () => {
    await bot.deliver(
      payload({
        group: 'DiskFull',
        alerts: [{ instance: 'db-1', labels: { service: 'metasheet' } }],
        commonLabels: { service: 'metasheet' },
      }),
    );
    await waitFor(
      () => bot.slack.emulator.channelMessages('C0DEFAULT1').length === 1,
      20_000,
      'default channel',
    );
  });

  it('escapes alert text for mrkdwn: an annotation cannot ping the channel or forge a link', async () => {
    const evil = '<!channel> deploy now <https://evil.example|click here> & <@U0ADMIN>';
    await bot.deliver(
      payload({
        group: 'Injection',
        alerts: [{ instance: 'pod-9', annotations: { summary: evil, runbook_url: 'javascript:alert(1)' } }],
        commonAnnotations: { summary: evil },
      }),
    );
    const root = await waitFor(
      () => bot.slack.emulator.allMessages().find((m) => blocksText(m.blocks).includes('Injection')),
      20_000,
      'injection root',
    );
    const everything = JSON.stringify({ text: root.text, blocks: root.blocks });
    expect(everything).not.toContain('<!channel>');
    expect(everything).not.toContain('<https://evil.example');
    expect(everything).not.toContain('<@U0ADMIN>');
    expect(everything).not.toContain('javascript:');
    expect(everything).toContain(
      '&lt;!channel&gt; deploy now &lt;https://evil.example|click here&gt; &amp; &lt;@U0ADMIN&gt;',
    );
  });

  it('accepts a group of 500 alerts (about half a megabyte) and summarizes it within Block Kit limits', async () => {
    const big = payload({
      group: 'Storm500',
      alerts: Array.from({ length: 500 }, (_, i) => ({
        instance: `pod-${i}`,
        annotations: { description: `${'x'.repeat(700)} ${i}` },
      })),
    });
    const body = JSON.stringify(big);
    expect(body.length).toBeGreaterThan(450_000);
    const res = await bot.post('/alertmanager', body, {
      authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
    });
    expect(res.status).toBe(200);
    const root = await waitFor(
      () => bot.slack.emulator.allMessages().find((m) => blocksText(m.blocks).includes('Storm500')),
      20_000,
      'big root',
    );
    expect(root.blocks.length).toBeLessThanOrEqual(50);
    expect(blocksText(root.blocks)).toContain('500 firing');
    expect(blocksText(root.blocks)).toContain('and 490 more alerts');
    expect(bot.slack.emulator.calls.filter((c) => c.error === 'invalid_blocks')).toHaveLength(0);
  });

  it('turns an alert storm for one incident into one Slack sync', async () => {
    await settle();
    const before = bot.slack.emulator.calls.length;
    const instances = Array.from({ length: 40 }, (_, i) => ({ instance: `node-${i}` }));
    // Held back so that every delivery lands before the first sync: the storm case, made deterministic.
    await bot.app.slackSync.pause();
    // Alertmanager re-sends the whole group on every change; here it grows by one alert per delivery.
    for (let n = 1; n <= instances.length; n++) {
      expect((await bot.deliver(payload({ group: 'StormOne', alerts: instances.slice(0, n) }))).status).toBe(
        200,
      );
    }
    await bot.app.slackSync.resume();
    await settle();
    const roots = bot.slack.emulator
      .allMessages()
      .filter((m) => !m.threadTs && blocksText(m.blocks).includes('StormOne'));
    expect(roots).toHaveLength(1);
    expect(blocksText(roots[0]!.blocks)).toContain('40 firing, 0 resolved');
    expect(bot.slack.emulator.calls.slice(before).map((c) => c.method)).toEqual(['chat.postMessage']);
    const { rows } = await bot.app.pool.query(
      "SELECT count(*)::int AS n FROM timeline_entries t JOIN incidents i ON i.id = t.incident_id WHERE i.group_key LIKE '%StormOne%' AND t.slack_ts IS NULL",
    );
    expect(rows[0].n).toBe(0);
  });

  it('loses no update that arrives while a sync is talking to Slack', async () => {
    await bot.deliver(payload({ group: 'MidSync', alerts: [{ instance: 'a' }] }));
    const root = await waitFor(
      () =>
        bot.slack.emulator.allMessages().find((m) => !m.threadTs && blocksText(m.blocks).includes('MidSync')),
      20_000,
      'root message',
    );
    await settle();
    const held = bot.slack.emulator.hold('chat.update');
    await bot.deliver(payload({ group: 'MidSync', alerts: [{ instance: 'a' }, { instance: 'b' }] }));
    await held.reached; // the sync for two alerts is now inside chat.update
    await bot.deliver(
      payload({ group: 'MidSync', alerts: [{ instance: 'a' }, { instance: 'b' }, { instance: 'c' }] }),
    );
    held.release();
    await waitFor(
      () => blocksText(root.blocks).includes('3 firing, 0 resolved'),
      20_000,
      'the third alert on the root',
    );
    await settle();
    const told = bot.slack.emulator
      .threadOf(root.channel, root.ts)
      .map((m) => blocksText(m.blocks))
      .join(' ');
    expect(told).toContain('instance=b');
    expect(told).toContain('instance=c');
  });
});

describe('the webhook refuses what it cannot accept', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ worker: false });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const countIncidents = async () =>
    (await bot.app.pool.query('SELECT count(*)::int AS n FROM incidents')).rows[0].n;
  const valid = payload({ group: 'Refusals', alerts: [{ instance: 'pod-1' }] });

  it('401 without a bearer token, or with a wrong one', async () => {
    expect((await bot.post('/alertmanager', valid)).status).toBe(401);
    expect(
      (await bot.post('/alertmanager', valid, { authorization: 'Bearer wrong-token-wrong-token' })).status,
    ).toBe(401);
    expect(
      (await bot.post('/alertmanager', valid, { authorization: `Basic ${TEST_SECRETS.alertmanagerToken}` }))
        .status,
    ).toBe(401);
    expect(await countIncidents()).toBe(0);
  });

  it('400 for a body that is not JSON', async () => {
    const res = await bot.post('/alertmanager', '{"version": "4",', {
      authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
    });
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).error).toMatch(/^body: not valid JSON/);
    expect(await countIncidents()).toBe(0);
  });

  it('400 naming the failing path for a payload that breaks the schema', async () => {
    const broken = structuredClone(valid) as unknown as { alerts: Array<Record<string, unknown>> };
    broken.alerts[0]!.startsAt = 'yesterday';
    const res = await bot.deliver(broken);
    expect(res.status).toBe(400);
    expect((await jsonOf(res)).error).toBe('alerts[0].startsAt: expected an RFC 3339 timestamp');
    const noVersion = { ...valid, version: '3' };
    expect((await jsonOf(await bot.deliver(noVersion))).error).toMatch(/^version: expected "4"/);
    const nul = structuredClone(valid);
    nul.alerts[0]!.labels.instance = 'pod\u0000-1';
    expect((await jsonOf(await bot.deliver(nul))).error).toBe(
      'alerts[0].labels.instance: must not contain NUL characters',
    );
    const missing = { ...valid, groupKey: undefined };
    expect((await jsonOf(await bot.deliver(missing))).error).toBe('groupKey: required');
    expect(await countIncidents()).toBe(0);
  });

  it('400 naming the path for a lone UTF-16 surrogate, which PostgreSQL can never store', async () => {
    // JSON.stringify writes a lone surrogate as the escape \ud800, which JSON.parse turns back into one.
    const lone = '\ud800';
    const cases: Array<[string, (p: typeof valid) => unknown]> = [
      ['alerts[0].labels.instance', (p) => Object.assign(p.alerts[0]!.labels, { instance: `pod${lone}` })],
      [`alerts[0].labels.${lone}`, (p) => Object.assign(p.alerts[0]!.labels, { [lone]: 'x' })],
      ['alerts[0].annotations.summary', (p) => Object.assign(p.alerts[0]!.annotations, { summary: lone })],
      ['commonLabels.service', (p) => Object.assign(p.commonLabels, { service: lone })],
      ['groupKey', (p) => Object.assign(p, { groupKey: `${p.groupKey}${lone}` })],
      ['receiver', (p) => Object.assign(p, { receiver: '\udfff\ud800' })], // low before high: no pair
      ['externalURL', (p) => Object.assign(p, { externalURL: `http://am${lone}` })],
    ];
    for (const [path, spoil] of cases) {
      const body = structuredClone(valid);
      spoil(body);
      const res = await bot.deliver(body);
      expect({ path, status: res.status }).toEqual({ path, status: 400 });
      expect((await jsonOf(res)).error).toBe(`${path}: must not contain lone UTF-16 surrogates`);
    }
    const { rows } = await bot.app.pool.query(
      'SELECT (SELECT count(*) FROM incidents)::int + (SELECT count(*) FROM alerts)::int AS n',
    );
    expect(rows[0].n).toBe(0);
  });

  it('405 for a GET', async () => {
    expect((await fetch(`${bot.url}/alertmanager`)).status).toBe(405);
  });

  it('503, never 4xx, while Postgres is unreachable, and accepts the retry once it is back', async () => {
    await setDatabaseReachable(bot.database.url, false);
    const res = await bot.deliver(valid);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const ready = await fetch(`${bot.url}/readyz`);
    expect(ready.status).toBe(503);
    // Which store, not its error: that names the database, its host and user on the public port.
    expect(await ready.json()).toEqual({ status: 'not ready', reason: 'PostgreSQL is not answering' });

    await setDatabaseReachable(bot.database.url, true);
    const retried = await waitFor(
      async () => {
        const r = await bot.deliver(valid);
        return r.status === 200 ? r : undefined;
      },
      20_000,
      'the retry to be accepted',
    );
    expect((await jsonOf(retried)).outcome).toBe('created');
    expect(await countIncidents()).toBe(1);
  });
});

describe('with Redis unreachable', () => {
  let bot: TestBot;
  let redis: TcpProxy;
  beforeAll(async () => {
    const url = new URL(redisUrl());
    redis = await startTcpProxy(url.hostname, Number(url.port));
    url.port = String(redis.port);
    bot = await startTestBot({ env: { REDIS_URL: url.toString() } });
  });
  afterAll(async () => {
    await bot?.stop();
    await redis?.close();
  });

  it('stores a delivery and answers 200; it is ingested, and shown, once Redis is back', async () => {
    redis.cut();
    await waitFor(async () => (await fetch(`${bot.url}/readyz`)).status === 503, 20_000, 'not ready');
    const res = await bot.post(
      '/alertmanager',
      payload({ group: 'NoRedis', alerts: [{ instance: 'pod-1' }] }),
      { authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}` },
    );
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toMatchObject({ outcome: 'accepted' });
    // Not ingested while what it changes could not be passed on to Slack.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const incidents = async () => (await bot.app.pool.query('SELECT id FROM incidents')).rows;
    expect(await incidents()).toHaveLength(0);

    redis.restore();
    await waitFor(async () => (await incidents()).length === 1, 30_000, 'the delivery to be ingested');
    await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL)[0], 30_000, 'root message');
  });
});
