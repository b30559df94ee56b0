import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCheck } from '../../src/health/checks.js';
import {
  matrix,
  type PrometheusStandIn,
  prometheusError,
  scalar,
  startPrometheusStandIn,
  vector,
} from '../support/prometheusStandIn.js';
import { waitFor } from '../support/services.js';
import { check, silentServer } from './support.js';

let prometheus: PrometheusStandIn;

beforeAll(async () => {
  prometheus = await startPrometheusStandIn();
});
afterAll(async () => {
  await prometheus.close();
});
beforeEach(() => {
  prometheus.received.length = 0;
});

const ERROR_RATIO =
  'sum by (instance) (rate(http_requests_total{code=~"5.."}[5m])) / sum by (instance) (rate(http_requests_total[5m]))';

const promCheck = (extra: Record<string, unknown> = {}) =>
  check({
    kind: 'prometheus',
    name: 'error-rate',
    url: prometheus.url,
    query: ERROR_RATIO,
    warnAt: 0.01,
    failAt: 0.05,
    ...extra,
  });

const run = (extra: Record<string, unknown> = {}, labels: Record<string, string> = {}, env = {}) =>
  runCheck(promCheck(extra), { env, labels });

const graph = (query: string) =>
  `${prometheus.url}/graph?g0.expr=${encodeURIComponent(query)}&g0.tab=0&g0.range_input=1h`;

describe('an instant vector', () => {
  it('is judged by its worst series, and says how many series crossed', async () => {
    prometheus.answer = () =>
      vector([{ instance: 'a' }, '0.002'], [{ instance: 'b' }, '0.0833333'], [{ instance: 'c' }, '0.03']);
    expect(await run()).toEqual({
      name: 'error-rate',
      kind: 'prometheus',
      status: 'fail',
      latencyMs: expect.any(Number),
      detail: 'value 0.08333 ≥ fail threshold 0.05 in {instance="b"}; 2 of 3 series crossed',
      facts: [
        { label: 'threshold', value: 'warn at ≥ 0.01, fail at ≥ 0.05' },
        { label: 'query', value: ERROR_RATIO },
        { label: 'series', value: '3: 1 fail, 1 warn, 1 ok' },
      ],
      link: { url: graph(ERROR_RATIO), text: 'graph in Prometheus' },
    });
    expect(prometheus.received).toEqual([
      expect.objectContaining({ method: 'POST', params: { query: ERROR_RATIO, timeout: '5000ms' } }),
    ]);
  });

  it.each([
    [
      'warns when the worst series crosses only the warn threshold',
      ['0.002', '0.02'],
      'warn',
      'value 0.02 ≥ warn threshold 0.01 in {instance="b"}; 1 of 2 series crossed',
      '2: 0 fail, 1 warn, 1 ok',
    ],
    [
      'passes when none crosses, naming the worst value and the nearest threshold',
      ['0.002', '0.004'],
      'ok',
      'value 0.004 < warn threshold 0.01 in {instance="b"}; 2 series, none crossed',
      '2: 0 fail, 0 warn, 2 ok',
    ],
    [
      'counts +Inf as crossing, and leaves NaN series unjudged',
      ['NaN', '+Inf'],
      'fail',
      'value +Inf ≥ fail threshold 0.05 in {instance="b"}; 1 of 2 series crossed',
      '2: 1 fail, 0 warn, 0 ok, 1 NaN',
    ],
  ])('%s', async (_, [a, b], status, detail, series) => {
    prometheus.answer = () => vector([{ instance: 'a' }, a!], [{ instance: 'b' }, b!]);
    const result = await run();
    expect(result).toMatchObject({ status, detail });
    expect(result.facts).toContainEqual({ label: 'series', value: series });
  });

  it('shortens a long series name, so that the count of series crossed still shows', async () => {
    const path = `/${'very-long-path-segment/'.repeat(30)}`;
    prometheus.answer = () => vector([{ instance: 'a', path }, '0.2'], [{ instance: 'b' }, '0.02']);
    const { detail } = await run();
    expect(detail).toMatch(
      /^value 0\.2 ≥ fail threshold 0\.05 in \{instance="a", path="\/very-long-path-segment\//,
    );
    expect(detail).toMatch(/…; 2 of 2 series crossed$/);
  });

  it('shows as many digits as it takes for the value not to read as the other side of a threshold', async () => {
    prometheus.answer = () => vector([{}, '0.099996']);
    expect(await run({ warnAt: 0.05, failAt: 0.1 })).toMatchObject({
      status: 'warn',
      detail: 'value 0.099996 ≥ warn threshold 0.05',
    });
    prometheus.answer = () => vector([{}, '0.99996']);
    expect(await run({ warnAt: undefined, failAt: 0.99997 })).toMatchObject({
      status: 'ok',
      detail: 'value 0.99996 < fail threshold 0.99997',
    });
  });

  it('judges direction below by its lowest series', async () => {
    prometheus.answer = () =>
      vector(
        [{ __name__: 'up', job: 'api', instance: 'a' }, '1'],
        [{ __name__: 'up', job: 'api', instance: 'b' }, '0'],
      );
    expect(
      await run({ query: 'up{job="api"}', direction: 'below', warnAt: undefined, failAt: 0.5 }),
    ).toMatchObject({
      status: 'fail',
      detail: 'value 0 ≤ fail threshold 0.5 in up{job="api", instance="b"}; 1 of 2 series crossed',
      facts: expect.arrayContaining([{ label: 'threshold', value: 'fail at ≤ 0.5' }]),
    });
    prometheus.answer = () => vector([{}, '0.97']);
    expect(await run({ direction: 'below', warnAt: 0.99, failAt: 0.95 })).toMatchObject({
      status: 'warn',
      detail: 'value 0.97 ≤ warn threshold 0.99',
    });
  });
});

describe('a scalar', () => {
  it('is judged as the one value', async () => {
    prometheus.answer = () => scalar('2.5');
    const result = await run({ query: 'scalar(max(latency_p95_seconds))', warnAt: 1, failAt: 2 });
    expect(result).toMatchObject({ status: 'fail', detail: 'value 2.5 ≥ fail threshold 2' });
    expect(result.facts.map((f) => f.label)).toEqual(['threshold', 'query']);
  });
});

describe('an empty result', () => {
  it('warns by default: the query matched nothing', async () => {
    prometheus.answer = () => vector();
    expect(await run()).toMatchObject({ status: 'warn', detail: 'no series: the query matched nothing' });
  });

  it('is the outcome ifEmpty names', async () => {
    prometheus.answer = () => vector();
    expect(await run({ ifEmpty: 'ok' })).toMatchObject({
      status: 'ok',
      detail: 'no series: the query matched nothing',
    });
    expect(await run({ ifEmpty: 'fail' })).toMatchObject({ status: 'fail' });
  });

  it('includes series that are all NaN (a ratio of nothing)', async () => {
    prometheus.answer = () => vector([{ instance: 'a' }, 'NaN'], [{ instance: 'b' }, 'NaN']);
    expect(await run({ ifEmpty: 'fail' })).toMatchObject({
      status: 'fail',
      detail: 'no value: 2 series answered NaN (nothing to divide?)',
    });
  });
});

describe('answers that cannot be judged', () => {
  it("fail with Prometheus's own error, the graph still linked", async () => {
    prometheus.answer = () =>
      prometheusError(400, 'bad_data', 'invalid parameter "query": 1:8: parse error: unexpected "}"');
    expect(await run({ query: 'sum(up})' })).toMatchObject({
      status: 'fail',
      detail: 'Prometheus answered 400 bad_data: invalid parameter "query": 1:8: parse error: unexpected "}"',
      link: { url: graph('sum(up})'), text: 'graph in Prometheus' },
    });
    prometheus.answer = () => prometheusError(503, 'timeout', 'query timed out in expression evaluation');
    expect(await run()).toMatchObject({
      status: 'fail',
      detail: 'Prometheus answered 503 timeout: query timed out in expression evaluation',
    });
  });

  it("quote a refusal in some other JSON than Prometheus's, as a gateway in front of it answers", async () => {
    prometheus.answer = () => ({ status: 401, body: { message: 'Unauthorized' } });
    expect(await run()).toMatchObject({
      status: 'fail',
      detail: 'Prometheus answered 401 with {"message":"Unauthorized"}',
    });
    prometheus.answer = () => ({
      status: 401,
      body: { status: 'error', error: 'authentication error: no org id' },
    });
    expect(await run()).toMatchObject({
      status: 'fail',
      detail: 'Prometheus answered 401: authentication error: no org id',
    });
  });

  it('fail on a body that is not Prometheus JSON, quoting its start', async () => {
    prometheus.answer = () => ({ status: 502, body: '<html><body>Bad Gateway</body></html>' });
    expect(await run()).toMatchObject({
      status: 'fail',
      detail: 'Prometheus answered 502 with "<html><body>Bad Gateway</body></html>", not its JSON',
    });
    prometheus.answer = () => ({ body: { status: 'success', data: { resultType: 'vector', result: 'x' } } });
    expect((await run()).detail).toMatch(
      /^Prometheus answered 200 with JSON that is not a query result \(data\.result/,
    );
    prometheus.answer = () => vector([{ instance: 'a' }, 'lots']);
    expect(await run()).toMatchObject({ status: 'fail', detail: 'expected a sample value, got "lots"' });
  });

  it('fail with a timeout when Prometheus never answers, keeping the query and its graph, and hang up', async () => {
    const silent = await silentServer();
    try {
      const result = await runCheck(
        { ...promCheck({ url: `http://127.0.0.1:${silent.port}` }), timeout: 200 },
        { env: {} },
      );
      expect(result).toMatchObject({
        status: 'fail',
        detail: 'timed out after 200 ms',
        facts: expect.arrayContaining([{ label: 'query', value: ERROR_RATIO }]),
        link: { text: 'graph in Prometheus' },
      });
      await waitFor(async () => (await silent.connections()) === 0, 5000, 'the hung query to be closed');
    } finally {
      await silent.close();
    }
  });

  it('fail on a redirect, saying where to without its query, and not following it', async () => {
    prometheus.answer = () => ({
      status: 302,
      headers: { location: '/oauth2/start?rd=%2Fapi%2Fv1%2Fquery&state=abc' },
      body: '',
    });
    expect(await run()).toMatchObject({
      status: 'fail',
      detail: `Prometheus answered 302, a redirect to ${prometheus.url}/oauth2/start, which a check does not follow: set url to where the API answers`,
    });
    expect(prometheus.received).toHaveLength(1);
  });

  it('fail on a range vector, a string or native histograms, saying what to change', async () => {
    prometheus.answer = () => matrix({ instance: 'a' }, '1', '2');
    expect((await run()).detail).toBe(
      'the query answers a range vector: drop its [range], or wrap it in rate(…) or the like',
    );
    prometheus.answer = () => ({
      body: { status: 'success', data: { resultType: 'string', result: [1, 'hello'] } },
    });
    expect((await run()).detail).toBe('the query answers a string, not a number');
    prometheus.answer = () => ({
      body: {
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, histogram: [1, { count: '3', sum: '1' }] }] },
      },
    });
    expect((await run()).detail).toMatch(/^the query answers native histograms, which have no single value/);
  });

  it("lists Prometheus's warnings and info-level annotations among the facts", async () => {
    prometheus.answer = () => ({
      body: {
        ...(vector([{}, '0.001']).body as object),
        warnings: ['PromQL warning: encountered a mix of histograms and floats for metric name "x"'],
        infos: [
          'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "x"',
        ],
      },
    });
    const { facts } = await run();
    expect(facts).toContainEqual({
      label: 'Prometheus warnings',
      value: 'PromQL warning: encountered a mix of histograms and floats for metric name "x"',
    });
    expect(facts).toContainEqual({
      label: 'Prometheus infos',
      value:
        'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "x"',
    });
  });
});

describe('credentials from the env', () => {
  it('sends a bearer token, and keeps it out of the result', async () => {
    const token = 'prom-token-5up3r-s3cret';
    // A proxy that quotes the header it refuses.
    prometheus.answer = (q) => prometheusError(401, 'unauthorized', `refused ${q.headers.authorization}`);
    const result = await run({ tokenEnv: 'PROMETHEUS_API_TOKEN' }, {}, { PROMETHEUS_API_TOKEN: token });
    expect(prometheus.received[0]!.headers.authorization).toBe(`Bearer ${token}`);
    expect(result.detail).toBe('Prometheus answered 401 unauthorized: refused Bearer [REDACTED]');
  });

  it('sends basic auth', async () => {
    prometheus.answer = () => vector([{}, '0']);
    const env = { PROM_USER: 'incident-bot', PROM_PASSWORD: 'pa55:word' };
    expect(await run({ usernameEnv: 'PROM_USER', passwordEnv: 'PROM_PASSWORD' }, {}, env)).toMatchObject({
      status: 'ok',
    });
    expect(prometheus.received[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from('incident-bot:pa55:word').toString('base64')}`,
    );
  });

  it('keeps basic credentials out of the result, encoded as sent too', async () => {
    prometheus.answer = (q) => prometheusError(401, 'unauthorized', `refused ${q.headers.authorization}`);
    const env = { PROM_USER: 'incident-bot', PROM_PASSWORD: 'pa55:word' };
    const result = await run({ usernameEnv: 'PROM_USER', passwordEnv: 'PROM_PASSWORD' }, {}, env);
    expect(result.detail).toBe('Prometheus answered 401 unauthorized: refused Basic [REDACTED]');
  });

  it("keeps long credentials out of a gateway's refusal, which the detail shortens", async () => {
    const token = 'prom-token-0123456789abcdef0123456789abcdef';
    const password = 'correct-horse-battery-staple-42';
    const pair = Buffer.from(`incident-bot:${password}`).toString('base64');
    for (const [answer, config, env] of [
      [
        { status: 403, body: { message: '' } },
        { tokenEnv: 'PROMETHEUS_API_TOKEN' },
        { PROMETHEUS_API_TOKEN: token },
      ],
      [
        { status: 403, body: '' },
        { usernameEnv: 'PROM_USER', passwordEnv: 'PROM_PASSWORD' },
        { PROM_USER: 'incident-bot', PROM_PASSWORD: password },
      ],
    ] as const) {
      // A gateway's JSON, or its plain text, quoting the header it refuses.
      prometheus.answer = (q) => ({
        status: answer.status,
        body:
          typeof answer.body === 'string'
            ? `refused ${q.headers.authorization}`
            : { message: `refused ${q.headers.authorization}` },
      });
      const { detail } = await run(config, {}, env);
      expect(detail).toMatch(/^Prometheus answered 403 with .*\[REDACTED\]/);
      for (const secret of [token, password, pair]) expect(detail).not.toContain(secret.slice(0, 8));
    }
  });

  it("keeps basic credentials out of a gateway's refusal that writes '/' as '\\/'", async () => {
    // lua-cjson (OpenResty) escapes "/" by default; this pair holds one.
    const password = 'correct?horse>battery~staple';
    const pair = Buffer.from(`incident-bot:${password}`).toString('base64');
    prometheus.answer = (q) => ({
      status: 401,
      body: `{"message":"refused ${String(q.headers.authorization).replaceAll('/', '\\/')}"}`,
    });
    const env = { PROM_USER: 'incident-bot', PROM_PASSWORD: password };
    const { detail } = await run({ usernameEnv: 'PROM_USER', passwordEnv: 'PROM_PASSWORD' }, {}, env);
    expect(detail).toBe('Prometheus answered 401 with {"message":"refused Basic [REDACTED]"}');
    expect(detail).not.toContain(pair.slice(0, 8));
  });

  it('fails, asking nothing, when the env var is not set', async () => {
    expect(await run({ tokenEnv: 'PROMETHEUS_API_TOKEN' })).toMatchObject({
      status: 'fail',
      detail: 'env var PROMETHEUS_API_TOKEN is not set',
    });
    expect(prometheus.received).toEqual([]);
  });
});

describe("the alert's labels in the query", () => {
  const query = 'sum(rate(http_requests_total{service="{{labels.service}}", path=~"{{ labels.path }}"}[5m]))';

  it('fills placeholders with values escaped for PromQL strings, and for regexes after =~', async () => {
    prometheus.answer = () => vector([{}, '0']);
    const labels = {
      service: 'pay"}) or vector(1) or up{x="\\',
      path: '/v1/users.(id)+\nnext',
      alertname: 'HighErrorRate',
    };
    const result = await run({ query }, labels);
    const sent =
      'sum(rate(http_requests_total{service="pay\\"}) or vector(1) or up{x=\\"\\\\", ' +
      'path=~"/v1/users\\\\.\\\\(id\\\\)\\\\+\\nnext"}[5m]))';
    expect(prometheus.received[0]!.params.query).toBe(sent);
    expect(result).toMatchObject({ status: 'ok', link: { url: graph(sent) } });
    expect(result.facts).toContainEqual({ label: 'query', value: sent });
  });

  it('does not run without the labels it needs, saying which and where to run it', async () => {
    expect(await run({ query })).toMatchObject({
      status: 'warn',
      detail:
        "not run: the query needs the alert label service, path, which only an incident's alerts give: run it in the incident's channel or thread",
    });
    expect(await run({ query }, { service: 'payments-api' })).toMatchObject({
      status: 'warn',
      detail: "not run: the query needs the alert label path, which the incident's alerts do not all share",
    });
    expect(prometheus.received).toEqual([]);
  });
});
