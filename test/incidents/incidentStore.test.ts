import { describe, expect, it } from 'vitest';
import { listOpenIncidents } from '../../src/incidents/incidentStore.js';
import { migratedDatabase } from '../support/database.js';

describe('the open incidents, as /incident list shows them', () => {
  const pool = migratedDatabase();

  it('are the open ones, most urgent first, then oldest, as many as asked, with how many are open', async () => {
    const opened = async (title: string, severity: string, minutesAgo: number, state = 'open') =>
      (
        await pool().query<{ id: number }>(
          `INSERT INTO incidents (title, severity, state, channel_id, created_at)
           VALUES ($1, $2, $3, 'C0OPS', now() - make_interval(mins => $4)) RETURNING id::int`,
          [title, severity, state, minutesAgo],
        )
      ).rows[0]!.id;
    expect(await listOpenIncidents(pool(), 45)).toEqual({ incidents: [], total: 0 });
    await opened('newer P2', 'P2', 5);
    const olderP2 = await opened('older P2', 'P2', 50);
    await opened('P1', 'P1', 1);
    await opened('P0', 'P0', 2);
    await opened('resolved P0', 'P0', 90, 'resolved');
    await opened('P4', 'P4', 100);
    await pool().query(
      "INSERT INTO incident_roles (incident_id, role, user_id, assigned_by) VALUES ($1, 'commander', 'U0BOB', 'U0ALICE')",
      [olderP2],
    );

    const all = await listOpenIncidents(pool(), 45);
    expect(all.total).toBe(5);
    expect(all.incidents.map((i) => i.title)).toEqual(['P0', 'P1', 'older P2', 'newer P2', 'P4']);
    expect(all.incidents.find((i) => i.title === 'older P2')).toMatchObject({
      commander: 'U0BOB',
      channelId: 'C0OPS',
      status: 'investigating',
    });
    expect(all.incidents[0]!.createdAt).toBeInstanceOf(Date);

    const first = await listOpenIncidents(pool(), 2);
    expect(first.total).toBe(5);
    expect(first.incidents.map((i) => i.title)).toEqual(['P0', 'P1']);
  });

  it('reads only as many as it shows, however many are open', async () => {
    await pool().query(
      `INSERT INTO incidents (title, severity, channel_id)
       SELECT 'storm ' || n, 'P3', 'C0OPS' FROM generate_series(1, 2000) n`,
    );
    await pool().query('ANALYZE incidents');
    const { rows: open } = await pool().query<{ n: number }>(
      "SELECT count(*)::int AS n FROM incidents WHERE state = 'open'",
    );
    // The list's own statement, explained as it ran.
    const sent: Array<{ text: string; values: unknown[] }> = [];
    await listOpenIncidents(
      {
        query: (statement: { text: string; values: unknown[] }) => {
          sent.push(statement);
          return pool().query(statement.text, statement.values);
        },
      } as never,
      45,
    );
    const { rows } = await pool().query<{ 'QUERY PLAN': Array<{ Plan: unknown }> }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${sent[0]!.text}`,
      sent[0]!.values,
    );
    type Node = { 'Node Type': string; 'Relation Name'?: string; 'Actual Rows': number; Plans?: Node[] };
    const scans: Array<[string, number]> = [];
    const walk = (plan: Node, counting: boolean) => {
      const inCount = counting || plan['Node Type'] === 'Aggregate';
      if (plan['Relation Name'] === 'incidents')
        scans.push([inCount ? 'count' : 'rows', plan['Actual Rows']]);
      for (const child of plan.Plans ?? []) walk(child, inCount);
    };
    walk(rows[0]!['QUERY PLAN'][0]!.Plan as Node, false);
    expect(open[0]!.n).toBeGreaterThanOrEqual(2000);
    // The rows listed are read, and no other: only the count goes through them all.
    expect(scans.sort()).toEqual([
      ['count', open[0]!.n],
      ['rows', 45],
    ]);
  });
});
