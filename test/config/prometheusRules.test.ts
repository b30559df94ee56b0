import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTestBot, type TestBot } from '../support/testBot.js';

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** config/prometheus-rules.example.yml against the metrics the bot really serves. */
describe('config/prometheus-rules.example.yml', () => {
  let rules: Rule[];
  let bot: TestBot;
  beforeAll(async () => {
    const file = parse(
      await readFile(new URL('../../config/prometheus-rules.example.yml', import.meta.url), 'utf8'),
    );
    rules = file.groups.flatMap((g: { rules: Rule[] }) => g.rules);
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('watches the refusals Alertmanager drops, the 413 first', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'IncidentBotNotificationRefused',
      'IncidentBotNotificationsRejected',
    ]);
    expect(rules[0]!.expr).toContain('outcome="http_413"');
    for (const rule of rules) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(critical|warning)$/);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
    }
  });

  it('fires one rule for each refusal, not two', () => {
    /** Whether a rule's selector takes a sample with this outcome label (=, !=, =~ and !~ matchers). */
    const selects = (expr: string, outcome: string) =>
      [...expr.matchAll(/outcome(=~|!~|!=|=)"([^"]*)"/g)].every(([, op, value]) => {
        const matched = op!.includes('~') ? new RegExp(`^(?:${value})$`).test(outcome) : value === outcome;
        return op!.startsWith('!') ? !matched : matched;
      });
    for (const outcome of ['http_413', 'http_401', 'http_400'])
      expect(
        rules.filter((r) => selects(r.expr, outcome)).map((r) => r.alert),
        outcome,
      ).toHaveLength(1);
    expect(rules.filter((r) => selects(r.expr, 'created'))).toEqual([]);
  });

  it('names only metrics the bot serves, with the labels they have', async () => {
    // One refused delivery, so that the counter has a sample with its labels.
    expect((await fetch(`${bot.url}/alertmanager`, { method: 'POST', body: '{}' })).status).toBe(401);
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    for (const rule of rules) {
      const [, name, labels] = /([a-z_]+)\{([^}]*)\}/.exec(rule.expr)!;
      expect(metrics, rule.alert).toContain(`# TYPE ${name} counter`);
      for (const [, label] of labels!.matchAll(/(\w+)=~?"/g))
        expect(metrics, `${rule.alert}: ${label}`).toMatch(new RegExp(`${name}\\{[^}]*${label}="`));
    }
  });
});
