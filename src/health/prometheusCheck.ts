import { z } from 'zod';
import { truncate } from '../primitives/text.js';
import { CheckFailure, type CheckRun, show } from './checkRun.js';
import type { HealthCheck } from './checkSchema.js';
import { httpRequest } from './httpRequest.js';
import { fillQuery, graphUrl, seriesName } from './promql.js';

type PrometheusCheck = Extract<HealthCheck, { kind: 'prometheus' }>;
type Verdict = 'ok' | 'warn' | 'fail';

const MAX_SERIES_NAME = 200;

// Prometheus's HTTP API answer to /api/v1/query, as its documentation gives it.
const Sample = z.tuple([z.number(), z.string()]);
const Answer = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({
        resultType: z.literal('vector'),
        result: z.array(
          z.object({
            metric: z.record(z.string(), z.string()),
            value: Sample.optional(),
            // A native histogram's sample: no single number to judge.
            histogram: z.unknown().optional(),
          }),
        ),
      }),
      z.object({ resultType: z.literal('scalar'), result: Sample }),
      z.object({ resultType: z.literal('matrix'), result: z.unknown() }),
      z.object({ resultType: z.literal('string'), result: z.unknown() }),
    ]),
    warnings: z.array(z.string()).optional(),
    // Info-level annotations such as "metric might not be a counter": hints that may be false positives.
    infos: z.array(z.string()).optional(),
  }),
  // errorType is documented as always set; the error alone is still worth showing where it is not.
  z.object({ status: z.literal('error'), errorType: z.string().optional(), error: z.string() }),
]);
type Success = Extract<z.infer<typeof Answer>, { status: 'success' }>;

/** One number the query answered, with the series it belongs to (none for a scalar). */
interface Value {
  series?: string;
  value: number;
}

/**
 * Runs the check's query, its placeholders filled from `labels`, and judges the worst series against
 * the thresholds. The query's graph is linked whatever the outcome.
 */
export async function checkPrometheus(
  check: PrometheusCheck,
  run: CheckRun,
  labels: Readonly<Record<string, string>>,
): Promise<string> {
  const filled = fillQuery(check.query, labels);
  if ('missing' in filled) {
    const which = Object.keys(labels).length
      ? "which the incident's alerts do not all share"
      : "which only an incident's alerts give: run it in the incident's channel or thread";
    run.warn(`not run: the query needs the alert label ${filled.missing.join(', ')}, ${which}`);
    return '';
  }
  const { query } = filled;
  run.link = { url: graphUrl(check.url, query), text: 'graph in Prometheus' };
  run.fact('threshold', thresholdText(check));
  run.fact('query', query);
  const url = `${check.url.replace(/\/+$/, '')}/api/v1/query`;
  const { status, body, location } = await httpRequest(
    {
      url,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...authorization(check, run) },
      // Prometheus stops evaluating once the check has given up.
      body: new URLSearchParams({ query, timeout: `${check.timeout}ms` }).toString(),
    },
    run.signal,
    () => true,
  );
  if (status >= 300 && status < 400 && location) throw redirected(url, status, location, run.secrets);
  const answer = parseAnswer(status, body, run.secrets);
  if (answer.warnings?.length) run.fact('Prometheus warnings', answer.warnings.join('; '));
  if (answer.infos?.length) run.fact('Prometheus infos', answer.infos.join('; '));
  return judge(check, run, valuesOf(answer.data));
}

function authorization(check: PrometheusCheck, run: CheckRun): Record<string, string> {
  if (check.tokenEnv) return { authorization: `Bearer ${run.secret(check.tokenEnv)}` };
  if (!check.usernameEnv || !check.passwordEnv) return {};
  const username = run.secret(check.usernameEnv);
  const password = run.secret(check.passwordEnv);
  if (username.includes(':')) throw new CheckFailure(`the username in ${check.usernameEnv} holds a ':'`);
  const credentials = Buffer.from(`${username}:${password}`).toString('base64');
  // A proxy that refuses the request may quote the header: the encoded pair is as secret as the password.
  run.secrets.push(credentials);
  return { authorization: `Basic ${credentials}` };
}

/** Where an auth proxy or a moved Prometheus sends the check; its query (a login's state) left out. */
function redirected(
  from: string,
  status: number,
  location: string,
  secrets: readonly string[],
): CheckFailure {
  let target: string;
  try {
    const to = new URL(location, from);
    target = `${to.origin}${to.pathname}`;
  } catch {
    target = show(location, secrets);
  }
  return new CheckFailure(
    `Prometheus answered ${status}, a redirect to ${target}, which a check does not follow: set url to where the API answers`,
  );
}

/** The query's answer; a refusal's words quoted with the check's `secrets` hidden. */
function parseAnswer(status: number, body: string, secrets: readonly string[]): Success {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new CheckFailure(`Prometheus answered ${status} with ${show(body, secrets)}, not its JSON`);
  }
  const parsed = Answer.safeParse(json);
  const ok = status >= 200 && status <= 299;
  // A refusal from something in front of Prometheus (a gateway's {"message": …}): its words say most.
  if (!parsed.success && !ok)
    throw new CheckFailure(`Prometheus answered ${status} with ${show(json, secrets)}`);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new CheckFailure(
      `Prometheus answered ${status} with JSON that is not a query result (${at}${issue.message})`,
    );
  }
  const answer = parsed.data;
  if (answer.status === 'error') {
    const type = answer.errorType ? ` ${answer.errorType}` : '';
    throw new CheckFailure(`Prometheus answered ${status}${type}: ${answer.error}`);
  }
  if (!ok) throw new CheckFailure(`Prometheus answered ${status}`);
  return answer;
}

function valuesOf(data: Success['data']): { values: Value[]; series: number } {
  switch (data.resultType) {
    case 'scalar':
      return { values: [{ value: sampleValue(data.result[1]) }], series: 0 };
    case 'vector':
      if (data.result.some((s) => !s.value)) {
        throw new CheckFailure(
          'the query answers native histograms, which have no single value: wrap it in histogram_quantile(0.95, …) or histogram_count(…)',
        );
      }
      return {
        values: data.result.map((s) => ({ series: seriesName(s.metric), value: sampleValue(s.value![1]) })),
        series: data.result.length,
      };
    case 'matrix':
      throw new CheckFailure(
        'the query answers a range vector: drop its [range], or wrap it in rate(…) or the like',
      );
    case 'string':
      throw new CheckFailure('the query answers a string, not a number');
  }
}

/** Prometheus writes floats in Go's notation: +Inf, -Inf and NaN included. */
function sampleValue(text: string): number {
  const special: Record<string, number> = {
    '+Inf': Infinity,
    Inf: Infinity,
    '-Inf': -Infinity,
    NaN: Number.NaN,
  };
  const value = special[text] ?? (text.trim() === '' ? Number.NaN : Number(text));
  if (Number.isNaN(value) && text !== 'NaN')
    throw new CheckFailure(`expected a sample value, got ${show(text)}`);
  return value;
}

function judge(check: PrometheusCheck, run: CheckRun, answer: { values: Value[]; series: number }): string {
  const numbers = answer.values.filter((v) => !Number.isNaN(v.value));
  const nan = answer.values.length - numbers.length;
  const verdicts = numbers.map((v) => verdictOf(check, v.value));
  if (answer.series > 1) {
    const count = (verdict: Verdict) => verdicts.filter((v) => v === verdict).length;
    const parts = [`${count('fail')} fail`, `${count('warn')} warn`, `${count('ok')} ok`];
    run.fact('series', `${answer.series}: ${[...parts, ...(nan ? [`${nan} NaN`] : [])].join(', ')}`);
  }
  if (numbers.length === 0) {
    const text = nan
      ? `no value: ${nan} series answered NaN (nothing to divide?)`
      : 'no series: the query matched nothing';
    return report(run, check.ifEmpty, text);
  }
  const worst = numbers.reduce((a, b) =>
    (check.direction === 'above' ? b.value > a.value : b.value < a.value) ? b : a,
  );
  const verdict = verdictOf(check, worst.value);
  const crossedBy = verdicts.filter((v) => v !== 'ok').length;
  const threshold = verdict === 'ok' ? (check.warnAt === undefined ? 'fail' : 'warn') : verdict;
  const limit = threshold === 'fail' ? check.failAt! : check.warnAt!;
  const sign =
    verdict === 'ok' ? (check.direction === 'above' ? '<' : '>') : check.direction === 'above' ? '≥' : '≤';
  // Cut here, not by the detail's own limit, which would drop the count of series crossed after it.
  const where = worst.series && worst.series !== '{}' ? ` in ${truncate(worst.series, MAX_SERIES_NAME)}` : '';
  const many =
    answer.series > 1
      ? crossedBy
        ? `; ${crossedBy} of ${answer.series} series crossed`
        : `; ${answer.series} series, none crossed`
      : '';
  return report(
    run,
    verdict,
    `value ${formatValue(worst.value, check)} ${sign} ${threshold} threshold ${limit}${where}${many}`,
  );
}

function verdictOf(check: PrometheusCheck, value: number): Verdict {
  const beyond = (limit: number | undefined) =>
    limit !== undefined && (check.direction === 'above' ? value >= limit : value <= limit);
  return beyond(check.failAt) ? 'fail' : beyond(check.warnAt) ? 'warn' : 'ok';
}

/** Records a warn or fail; an ok is the summary. */
function report(run: CheckRun, verdict: Verdict, text: string): string {
  if (verdict === 'fail') run.fail(text);
  else if (verdict === 'warn') run.warn(text);
  return verdict === 'ok' ? text : '';
}

function thresholdText(check: PrometheusCheck): string {
  const sign = check.direction === 'above' ? '≥' : '≤';
  return [
    check.warnAt === undefined ? '' : `warn at ${sign} ${check.warnAt}`,
    check.failAt === undefined ? '' : `fail at ${sign} ${check.failAt}`,
  ]
    .filter(Boolean)
    .join(', ');
}

/**
 * Four significant digits, or more where fewer would put the value on the other side of a threshold, or
 * on it: 0.099996 shown as 0.1 beside "fail at ≥ 0.1" would read as a fail the verdict is not.
 */
function formatValue(value: number, check: PrometheusCheck): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
  const limits = [check.warnAt, check.failAt].filter((limit) => limit !== undefined);
  // 17 significant digits give back any double exactly.
  for (let digits = 4; digits < 17; digits++) {
    const shown = Number(value.toPrecision(digits));
    if (limits.every((limit) => Math.sign(shown - limit) === Math.sign(value - limit))) return String(shown);
  }
  return String(value);
}
