import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { playbookView } from '../../src/playbooks/playbooks.js';

describe('config/incident-bot.example.yml', () => {
  it('is a valid configuration, so that copying it is a working start', async () => {
    const path = new URL('../../config/incident-bot.example.yml', import.meta.url).pathname;
    const config = parseFileConfig(path, await readFile(path, 'utf8'));
    expect(Object.keys(config.services)).toEqual(['metasheet-backend', 'payments-api']);
    expect(config.services['metasheet-backend']!.actions.map((a) => a.name)).toEqual([
      'enable-degradation',
      'disable-degradation',
      'rollback-migration',
    ]);
    // Runbook 004's HighErrorRate and HighResponseTime, asked of Prometheus.
    expect(config.services['payments-api']!.checks.map((c) => `${c.kind} ${c.name}`)).toEqual([
      'http health',
      'prometheus error-rate',
      'prometheus latency-p95',
      'postgres database',
    ]);
    // Runbook 004's alerts and runbook 000's failed migration, each with its first moves.
    expect(config.playbooks.map((p) => [p.name, p.service, p.checks.length + p.actions.length])).toEqual([
      ['service-down', 'payments-api', 2],
      ['error-rate', 'payments-api', 4],
      ['response-time', 'payments-api', 3],
      ['database-connections', 'payments-api', 1],
      ['migration-failed', 'metasheet-backend', 4],
    ]);
    // Runbook 004's levels, a P1 called again at its 5-minute acknowledgement target, runbook 002's matrix.
    expect(Object.keys(config.escalation.policies)).toEqual([
      'levels',
      'p1',
      'database-down',
      'data-corruption',
      'security-incident',
      'performance',
    ]);
  });

  it("offers runbook 000's roll-back only for the migration its statements undo", async () => {
    const path = new URL('../../config/incident-bot.example.yml', import.meta.url).pathname;
    const config = parseFileConfig(path, await readFile(path, 'utf8'));
    const failed = (migration: string) =>
      playbookView(config, {
        id: 1,
        groupKey: '{}:{alertname="MigrationFailed"}',
        groupLabels: { alertname: 'MigrationFailed' },
        commonLabels: { service: 'metasheet-backend', migration },
      })!.moves.find((m) => m.value.endsWith('|rollback-migration'));
    expect(failed('048_create_event_bus_tables.sql')?.unavailable).toBeUndefined();
    // Its statements drop 048's event bus tables: another migration's failure must not offer them.
    expect(failed('049_add_audit_columns.sql')?.unavailable).toBe(true);
  });
});
