import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { type PrometheusStandIn, startPrometheusStandIn, vector } from '../support/prometheusStandIn.js';
import { waitFor } from '../support/services.js';
import { clickButton, messageOf, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * Runbook 004's HighErrorRate first move, through the bot: the incident's Run health check button runs
 * a Prometheus check whose query takes the alert's labels, and its thread shows the value, the
 * threshold and the graph.
 */
const QUERY =
  'sum by (instance) (rate(http_requests_total{service="{{labels.service}}", route="{{labels.route}}", code=~"5.."}[5m]))' +
  ' / sum by (instance) (rate(http_requests_total{service="{{labels.service}}", route="{{labels.route}}"}[5m]))';
const TOKEN = 'prometheus-e2e-token-0123456789';
// An alert label that would end the string and add a series of its own, were it not escaped.
const ROUTE = '/pay"} or vector(1) #';

describe('a Prometheus check from an incident', () => {
  let prometheus: PrometheusStandIn;
  let bot: TestBot;

  beforeAll(async () => {
    prometheus = await startPrometheusStandIn();
    prometheus.answer = () =>
      vector([{ instance: 'a' }, '0.004'], [{ instance: 'b<!channel>' }, '0.0833333']);
    process.env.PROMETHEUS_E2E_TOKEN = TOKEN;
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    checks:
      - name: error-rate
        kind: prometheus
        url: ${prometheus.url}/
        query: '${QUERY}'
        warnAt: 0.01
        failAt: 0.05
        tokenEnv: PROMETHEUS_E2E_TOKEN
`,
    });
  });
  afterAll(async () => {
    await bot?.stop();
    await prometheus?.close();
    delete process.env.PROMETHEUS_E2E_TOKEN;
  });

  const healthResults = () =>
    bot.slack.emulator.allMessages().filter((m) => JSON.stringify(m.blocks).includes('Health checks'));

  it("fills the query from the incident's labels and shows value, threshold and graph in its thread", async () => {
    const res = await bot.deliver(
      payload({
        group: 'HighErrorRate',
        alerts: [{ instance: 'a' }, { instance: 'b' }],
        commonLabels: { route: ROUTE },
      }),
    );
    expect(res.status).toBe(200);
    const id = await waitFor(
      async () => (await bot.app.pool.query('SELECT id::int AS id FROM incidents')).rows[0]?.id as number,
      20_000,
      'incident',
    );
    const root = await messageOf(bot, 'incident', id);
    expect(await clickButton(bot, 'incident_health_check', 'payments-api', root)).toBe(200);

    const result = await waitFor(() => healthResults()[0], 20_000, 'health result');
    expect(result.threadTs).toBe(root.messageTs);
    const route = '/pay\\"} or vector(1) #';
    const sent =
      `sum by (instance) (rate(http_requests_total{service="payments-api", route="${route}", code=~"5.."}[5m]))` +
      ` / sum by (instance) (rate(http_requests_total{service="payments-api", route="${route}"}[5m]))`;
    expect(prometheus.received.map((q) => [q.params.query, q.headers.authorization])).toEqual([
      [sent, `Bearer ${TOKEN}`],
    ]);
    const [section, check] = result.blocks as Array<{ elements?: Array<{ text: string }> }>;
    expect(JSON.stringify(section)).toContain('❌ *payments-api*');
    const [text, link] = check!.elements!.map((e) => e.text);
    expect(text).toContain(
      '❌ *error-rate* (prometheus, ', // latency follows
    );
    expect(text).toContain(
      'value 0.08333 ≥ fail threshold 0.05 in {instance="b&lt;!channel&gt;"}; 1 of 2 series crossed\n' +
        'threshold: warn at ≥ 0.01, fail at ≥ 0.05 · query: ',
    );
    expect(link).toBe(
      `<${prometheus.url}/graph?g0.expr=${encodeURIComponent(sent)}&amp;g0.tab=0&amp;g0.range_input=1h|graph in Prometheus>`,
    );
    // Written once the result is posted.
    const entry = await waitFor(
      async () =>
        (
          await bot.app.pool.query(
            "SELECT data FROM timeline_entries WHERE kind = 'health_check' AND incident_id = $1",
            [id],
          )
        ).rows[0],
      20_000,
      'the health_check timeline entry',
    );
    expect(entry.data.checks[0]).toMatchObject({
      name: 'error-rate',
      status: 'fail',
      detail: 'value 0.08333 ≥ fail threshold 0.05 in {instance="b<!channel>"}; 1 of 2 series crossed',
    });
  });

  it('outside an incident, says which labels it needs instead of querying', async () => {
    const before = healthResults().length;
    await slashCommand(bot, 'payments-api', { channel: 'C0RANDOM1', command: '/health' });
    const result = await waitFor(() => healthResults()[before], 20_000, 'health result');
    expect(JSON.stringify(result.blocks)).toContain(
      "not run: the query needs the alert label service, route, which only an incident's alerts give",
    );
    expect(prometheus.received).toHaveLength(1);
  });
});
