import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { waitFor } from '../support/services.js';
import { jsonOf, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const MiB = 1024 * 1024;

/** A firing notification of `group` with `count` alerts, their descriptions sized to reach `bytes`. */
function notification(group: string, count: number, bytes: number) {
  const build = (description: string) => {
    const { alerts, ...rest } = payload({
      group,
      alerts: Array.from({ length: count }, (_, i) => ({
        instance: `host-${i}`,
        annotations: { description },
      })),
    });
    // Alertmanager writes alerts before groupKey and truncatedAlerts: the bot learns the group last.
    return JSON.stringify({ alerts, ...rest });
  };
  const base = build('').length;
  return build('x'.repeat(Math.ceil((bytes - base) / count)));
}

/** The worst storms make the largest notifications, and Alertmanager drops any that gets a 4xx. */
describe('the largest notifications Alertmanager sends', () => {
  let bot: TestBot;
  const logs: string[] = [];
  beforeAll(async () => {
    bot = await startTestBot({ logTo: { write: (line: string) => logs.push(line) } });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const deliver = (body: string) => bot.deliver(body);

  /** The incident's root message once Slack shows its latest version. */
  const rootOf = async (ref: string) => {
    const row = await waitFor(
      async () => {
        const { rows } = await bot.app.pool.query(
          'SELECT channel_id, root_ts, root_version >= version AS current FROM incidents WHERE id = $1',
          [Number(ref.slice(4))],
        );
        return rows[0]?.current ? rows[0] : undefined;
      },
      30_000,
      `${ref} in Slack`,
    );
    const root = bot.slack.emulator.message(row.channel_id, row.root_ts)!;
    return { text: root.text, blocks: JSON.stringify(root.blocks) };
  };

  it('takes a 5 MiB notification whole and shows it', async () => {
    const body = notification('FiveMiB', 800, 5 * MiB);
    expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(5 * MiB);
    const res = await deliver(body);
    expect(res.status).toBe(200);
    const { outcome, incident } = (await jsonOf(res)) as { outcome: string; incident: string };
    expect(outcome).toBe('created');
    const root = await rootOf(incident);
    expect(root.text).toContain('800 firing, 0 resolved');
    expect(root.blocks).not.toContain('did not list');
  });

  it('takes a 30 MiB notification, keeps its first 1,000 alerts in full, and says it shows only part', async () => {
    const body = notification('ThirtyMiB', 10_000, 30 * MiB);
    expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(30 * MiB);
    const res = await deliver(body);
    expect(res.status).toBe(200);
    const { outcome, incident } = (await jsonOf(res)) as { outcome: string; incident: string };
    expect(outcome).toBe('created');
    const root = await rootOf(incident);
    expect(root.text).toContain('1000 firing, 0 resolved');
    expect(root.blocks).toContain('The last notification did not list 9000 more alerts of this group');
    // The same notification again is a repeat: nothing written twice.
    expect((await jsonOf(await deliver(body))).outcome).toBe('duplicate');
  });

  it('takes a notification whose one alert is larger than the budget for alerts kept in full', async () => {
    const body = notification('OneHugeAlert', 1, 9 * MiB);
    const res = await deliver(body);
    expect(res.status).toBe(200);
    const root = await rootOf(((await jsonOf(res)) as { incident: string }).incident);
    expect(root.text).toContain('1 firing, 0 resolved');
  });

  it('takes any count of alerts Alertmanager says it left out', async () => {
    const sent = payload({ group: 'CountedOut', alerts: [{ instance: 'a' }], truncatedAlerts: 3e9 });
    const res = await deliver(JSON.stringify(sent));
    expect(res.status).toBe(200);
    const root = await rootOf(((await jsonOf(res)) as { incident: string }).incident);
    expect(root.blocks).toContain('did not list 2147483647 more alerts');
  });

  const metric = async (outcome: string) => {
    const text = await (await fetch(`${bot.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`incident_bot_alertmanager_deliveries_total{outcome="${outcome}"}`));
    return Number(line?.split(' ')[1] ?? 0);
  };

  /** Sends `chunks` of a POST without a declared length; resolves with the answer, or with 'reset'. */
  const sendChunked = (chunks: Buffer[], abortAfter?: number) =>
    new Promise<{ status: number; connection?: string } | 'reset'>((resolve) => {
      const req = request(`${bot.url}/alertmanager`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
          ...(abortAfter === undefined ? {} : { 'content-length': String(10 * MiB) }),
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode!, connection: res.headers.connection });
      });
      req.on('error', () => resolve('reset'));
      (async () => {
        for (const [i, chunk] of chunks.entries()) {
          if (i === abortAfter) return req.destroy();
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })().catch(() => {});
    });

  it('refuses a chunked body past the limit at once, closing the connection rather than reading on', async () => {
    const alert = JSON.stringify(payload({ group: 'Chunked', alerts: [{ instance: 'a' }] }).alerts[0]);
    const chunk = Buffer.from(`${alert},`.repeat(Math.ceil(MiB / alert.length)));
    const refused = await metric('http_413');
    const answer = await sendChunked([
      Buffer.from('{"alerts": ['),
      ...Array.from({ length: 200 }, () => chunk),
    ]);
    // Either the answer arrived, or the connection closed under the writes.
    if (answer !== 'reset') expect(answer).toEqual({ status: 413, connection: 'close' });
    await waitFor(async () => (await metric('http_413')) === refused + 1, 10_000, 'refusal counted');
  });

  it('counts a sender that went away mid-body as aborted, not as a database outage', async () => {
    const before = await metric('http_503');
    const half = Buffer.from(notification('GoneAway', 10, 5 * MiB));
    expect(await sendChunked([half, half], 1)).toBe('reset');
    await waitFor(async () => (await metric('aborted')) === 1, 10_000, 'aborted counted');
    expect(await metric('http_503')).toBe(before);
  });

  it('refuses one over 32 MiB with 413, and says so loudly: an error naming the group, and the counter', async () => {
    const before = await bot.app.pool.query('SELECT count(*)::int AS n FROM incidents');
    const refused = await metric('http_413');
    const body = notification('OverTheLimit', 11_000, 33 * MiB);
    const res = await deliver(body);
    expect(res.status).toBe(413);
    const line = logs.map((l) => JSON.parse(l)).findLast((l) => /over the \d+-byte limit/.test(l.msg));
    expect(line).toMatchObject({
      level: 50,
      groupKey: JSON.parse(body).groupKey,
      bytes: Buffer.byteLength(body),
      limit: 32 * MiB,
    });
    expect(await metric('http_413')).toBe(refused + 1);
    expect((await bot.app.pool.query('SELECT count(*)::int AS n FROM incidents')).rows).toEqual(before.rows);
  });
});
