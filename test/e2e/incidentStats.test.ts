import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateBlocks } from '../../src/render/blockKit.js';
import { slashCommand } from '../support/slackRequests.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/** /incident stats over incidents seeded in PostgreSQL with chosen times, asked through signed requests. */

interface Seed {
  severity: string;
  title: string;
  /** How long ago it opened, as a PostgreSQL interval. */
  openedAgo: string;
  /** The alert that opened it; none for a declared incident. */
  alertname?: string;
  acknowledgedAfter?: string;
  resolvedAfter?: string;
}

describe('/incident stats', () => {
  let bot: TestBot;
  const text = (value: unknown) => JSON.stringify(value);

  async function seed(incident: Seed): Promise<number> {
    const { rows } = await bot.app.pool.query(
      `INSERT INTO incidents (title, severity, channel_id, group_key, declared_by, created_at, opened_at,
                              acknowledged_by, acknowledged_at, state, status, resolved_at)
       SELECT $1, $2, 'C0PAYMENTS', $3, $4, t, t, CASE WHEN $5::interval IS NOT NULL THEN 'U0BOB' END,
              t + $5::interval, CASE WHEN $6::interval IS NULL THEN 'open' ELSE 'resolved' END,
              CASE WHEN $6::interval IS NULL THEN 'investigating' ELSE 'resolved' END, t + $6::interval
         FROM (SELECT now() - $7::interval AS t) opened
       RETURNING id::int AS id`,
      [
        incident.title,
        incident.severity,
        incident.alertname ? `{}:{alertname="${incident.alertname}",seed="${Math.random()}"}` : null,
        incident.alertname ? null : 'U0ALICE',
        incident.acknowledgedAfter ?? null,
        incident.resolvedAfter ?? null,
        incident.openedAgo,
      ],
    );
    const id = rows[0].id as number;
    if (incident.alertname) await alert(id, incident.alertname, '0 minutes');
    return id;
  }
  /** An alert of the incident, first seen this long after the incident was created. */
  const alert = (id: number, alertname: string, after: string) =>
    bot.app.pool.query(
      `INSERT INTO alerts (incident_id, fingerprint, status, alertname, severity, labels, annotations,
                           starts_at, first_seen_at)
       SELECT id, md5(random()::text), 'firing', $2, severity, '{}', '{}', created_at, created_at + $3::interval
         FROM incidents WHERE id = $1`,
      [id, alertname, after],
    );
  const writes = async () =>
    (
      await bot.app.pool.query(
        `SELECT (SELECT count(*) FROM slack_requests)::int AS requests,
                (SELECT count(*) FROM timeline_entries)::int AS entries,
                (SELECT coalesce(sum(version), 0) FROM incidents)::int AS versions`,
      )
    ).rows[0];
  const stats = async (args: string) => {
    const answer = await slashCommand(bot, `stats ${args}`.trim());
    expect(answer.status).toBe(200);
    expect(answer.responseType).toBe('ephemeral');
    return answer;
  };
  /** The section that starts with `*label*`. */
  const line = (blocks: unknown[] | undefined, label: string) =>
    (blocks as Array<{ text?: { text: string } }>)
      .map((b) => b.text?.text ?? '')
      .find((t) => t.startsWith(`*${label}*`));

  let oldestOpen: number;
  let openToday: number;
  beforeAll(async () => {
    bot = await startTestBot();
    // The past week.
    const first = await seed({
      severity: 'P1',
      title: 'HighLatency on checkout',
      alertname: 'HighLatency',
      openedAgo: '2 days',
      acknowledgedAfter: '2 minutes',
      resolvedAfter: '60 minutes',
    });
    // An alert that joined the incident later did not open it.
    await alert(first, 'PodRestarting', '5 minutes');
    await seed({
      severity: 'P1',
      title: 'HighLatency on search',
      alertname: 'HighLatency',
      openedAgo: '3 days',
      acknowledgedAfter: '4 minutes',
      resolvedAfter: '120 minutes',
    });
    openToday = await seed({
      severity: 'P1',
      title: 'HighLatency on payments',
      alertname: 'HighLatency',
      openedAgo: '1 day',
      acknowledgedAfter: '12 minutes',
    });
    await seed({
      severity: 'P0',
      title: 'DiskFull on db-1',
      alertname: 'DiskFull',
      openedAgo: '5 days',
      resolvedAfter: '30 minutes',
    });
    // Declared: its owner had it from the start, so it has no time to acknowledge, whatever the row says.
    const declared = await seed({
      severity: 'P2',
      title: 'Slow reports',
      openedAgo: '6 days',
      resolvedAfter: '10 minutes',
    });
    await bot.app.pool.query(
      "UPDATE incidents SET acknowledged_at = opened_at + interval '1 minute' WHERE id = $1",
      [declared],
    );
    // Before the week, within 30 days: open ever since, with a title that must not ping anyone.
    oldestOpen = await seed({
      severity: 'P3',
      title: '<!channel> & <https://evil.example|click> queue <b>stuck</b>',
      alertname: '<!here>Queue',
      openedAgo: '10 days',
    });
    // Within 90 days only.
    await seed({
      severity: 'P4',
      title: 'Certificate expiring',
      alertname: 'CertExpiring',
      openedAgo: '40 days',
      resolvedAfter: '1 day',
    });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('counts the past 7 days by severity, with median and p90 times to acknowledge and resolve', async () => {
    const answer = await stats('');
    expect(validateBlocks(answer.blocks as never)).toEqual([]);
    expect(answer.text).toBe('Incidents in the last 7 days: 5');
    // Acknowledged after 2, 4 and 12 min (alert-born only); resolved after 10 min, 30 min, 1 h and 2 h.
    expect(line(answer.blocks, 'All')).toBe(
      '*All*: 5 incidents, 1 still open\nAcknowledged: median 4 min, p90 10 min (3)\nResolved: median 45 min, p90 1 h 42 min (4)',
    );
    expect(line(answer.blocks, 'P0')).toBe(
      '*P0*: 1 incident\nAcknowledged: _none_\nResolved: median 30 min, p90 30 min (1)',
    );
    expect(line(answer.blocks, 'P1')).toBe(
      '*P1*: 3 incidents, 1 still open\nAcknowledged: median 4 min, p90 10 min (3)\nResolved: median 1 h 30 min, p90 1 h 54 min (2)',
    );
    expect(line(answer.blocks, 'P2')).toBe(
      '*P2*: 1 incident\nAcknowledged: _none_\nResolved: median 10 min, p90 10 min (1)',
    );
    expect(line(answer.blocks, 'P3')).toBeUndefined();
    expect(line(answer.blocks, 'Alerts that opened the most incidents')).toBe(
      '*Alerts that opened the most incidents*\nHighLatency: 3 incidents\nDiskFull: 1 incident',
    );
    // Open now, whenever they opened: the oldest first.
    const open = line(answer.blocks, 'Open longest')!;
    expect(open.indexOf(`*INC-${oldestOpen}* [P3]`)).toBeGreaterThan(0);
    expect(open.indexOf(`*INC-${openToday}* [P1] HighLatency on payments · open 24 h 0 min`)).toBeGreaterThan(
      open.indexOf(`*INC-${oldestOpen}*`),
    );
    expect(open).toContain('· 👀 <@U0BOB>');
  });

  it('escapes what alerts and people wrote', async () => {
    const answer = await stats('30d');
    const shown = text(answer.blocks);
    expect(shown).toContain(
      '&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; queue &lt;b&gt;stuck&lt;/b&gt; · open 10 days 0 h',
    );
    expect(shown).toContain('&lt;!here&gt;Queue: 1 incident');
    expect(shown).not.toContain('<!channel>');
    expect(shown).not.toContain('<!here>');
    expect(shown).not.toContain('<https://evil');
  });

  it('looks back 30 or 90 days when asked', async () => {
    const month = await stats('30d');
    expect(month.text).toBe('Incidents in the last 30 days: 6');
    expect(line(month.blocks, 'P3')).toBe(
      '*P3*: 1 incident, 1 still open\nAcknowledged: _none_\nResolved: _none_',
    );
    expect(line(month.blocks, 'P4')).toBeUndefined();
    const quarter = await stats('90D');
    expect(quarter.text).toBe('Incidents in the last 90 days: 7');
    expect(line(quarter.blocks, 'P4')).toBe(
      '*P4*: 1 incident\nAcknowledged: _none_\nResolved: median 24 h 0 min, p90 24 h 0 min (1)',
    );
  });

  it('refuses another period with its usage, and writes nothing', async () => {
    const before = await writes();
    for (const args of [
      '1y',
      '7',
      '14d',
      '7d 30d',
      '0d',
      '-7d',
      '<!channel>',
      '&lt;!channel&gt;',
      'constructor',
    ]) {
      const answer = await stats(args);
      expect(answer.blocks, args).toBeUndefined();
      expect(answer.text, args).toMatch(/(is not a period: use 7d, 30d or 90d|Only a period is expected)\./);
      expect(answer.text, args).toContain('Usage: `/incident stats [7d|30d|90d]');
      expect(answer.text, args).not.toContain('<!channel>');
    }
    expect(await writes()).toEqual(before);
  });
});
