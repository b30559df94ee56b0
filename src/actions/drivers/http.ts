import { z } from 'zod';
import { ownValue } from '../../primitives/records.js';
import {
  CappedOutput,
  type Driver,
  type DriverResult,
  type DriverRun,
  lastLine,
  type ParamValue,
  startDeadline,
} from './driver.js';
import {
  EnvName,
  Fixed,
  fill,
  paramValue,
  placeholdersIn,
  Template,
  wholePlaceholder,
} from './placeholders.js';

/**
 * Calls an HTTP endpoint. {{param}} may appear in the URL's path and query (URL-encoded when filled) and in
 * the JSON body's string values (not its keys); headers can take their value from an env var, a secret
 * that never shows in the output.
 */

const Method = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function isHttpUrlTemplate(template: string): boolean {
  // The scheme and host are fixed: a param must not send the request (and its secret headers) elsewhere.
  const m = /^https?:\/\/([^/?#]*)/i.exec(template);
  if (!m || m[1]!.includes('{{') || m[1]!.includes('@')) return false;
  try {
    new URL(fill(template, Object.fromEntries(placeholdersIn(template).map((name) => [name, 'x']))));
    return true;
  } catch {
    return false;
  }
}

const UrlTemplate = Template.refine(isHttpUrlTemplate, {
  message: 'expected an http(s) URL without credentials; {{placeholders}} may go in its path and query only',
});

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function stringLeaves(value: Json): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringLeaves);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(stringLeaves);
  return [];
}

const Body = z.json().refine((body) => stringLeaves(body).every((s) => Template.safeParse(s).success), {
  message: 'expected placeholders written {{name}}, with a name like replicas',
});

const HeaderValue = z.union([
  Template,
  // prefix: e.g. "Bearer ", when the env var holds the bare token.
  z.object({ env: EnvName, prefix: Fixed.optional() }).strict(),
]);

export const HttpSettingsSchema = z
  .object({
    type: z.literal('http'),
    method: Method.default('POST'),
    url: UrlTemplate,
    headers: z
      .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name'), HeaderValue)
      .default({}),
    body: Body.optional(),
    // What a dry run changes (e.g. an endpoint's ?dryRun=true); without it a dry run makes the real call.
    dryRun: z
      .object({ url: UrlTemplate.optional(), method: Method.optional(), body: Body.optional() })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((settings, ctx) => {
    const check = (method: string, body: unknown, path: (string | number)[]) => {
      if (method === 'GET' && body !== undefined)
        ctx.addIssue({ code: 'custom', path, message: 'a GET request has no body' });
    };
    check(settings.method, settings.body, ['body']);
    if (settings.dryRun) {
      check(settings.dryRun.method ?? settings.method, settings.dryRun.body ?? settings.body, ['dryRun']);
    }
  });

export type HttpSettings = z.output<typeof HttpSettingsSchema>;

export function httpPlaceholders(settings: HttpSettings): string[] {
  const strings = [
    settings.url,
    ...Object.values(settings.headers).filter((v) => typeof v === 'string'),
    ...stringLeaves(settings.body ?? null),
    settings.dryRun?.url ?? '',
    ...stringLeaves(settings.dryRun?.body ?? null),
  ];
  return strings.flatMap(placeholdersIn);
}

/** The env vars whose values go in headers: secrets the output must not show. */
export function httpSecretEnv(settings: HttpSettings): string[] {
  return Object.values(settings.headers).flatMap((value) => (typeof value === 'string' ? [] : [value.env]));
}

export function createHttpDriver(settings: HttpSettings): Driver {
  return {
    type: 'http',
    run: (run) => runHttp(settings, run),
  };
}

/** A string that is exactly "{{param}}" becomes the param's typed value; other strings are filled as text. */
function fillBody(value: Json, params: Record<string, ParamValue>): Json {
  if (typeof value === 'string') {
    const whole = wholePlaceholder(value);
    return whole ? paramValue(params, whole) : fill(value, params);
  }
  if (Array.isArray(value)) return value.map((v) => fillBody(v, params));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillBody(v, params)]));
  }
  return value;
}

function fillUrl(template: string, params: Record<string, ParamValue>): { url: string } | { error: string } {
  for (const name of placeholdersIn(template)) {
    // URL parsers resolve "." and ".." path segments even when percent-encoded: they would change the path.
    if (['.', '..'].includes(String(paramValue(params, name)))) {
      return { error: `{{${name}}} may not be "." or ".." in a URL` };
    }
  }
  return { url: fill(template, params, encodeURIComponent) };
}

async function readInto(output: CappedOutput, body: ReadableStream<Uint8Array> | null): Promise<void> {
  if (body) for await (const chunk of body) output.write(chunk);
}

function errorText(err: unknown): string {
  const e = err as Error & { cause?: Error };
  return e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
}

async function runHttp(settings: HttpSettings, run: DriverRun): Promise<DriverResult> {
  const dry = run.dryRun ? settings.dryRun : undefined;
  const prefix = dry ? 'dry run: ' : '';
  const method = dry?.method ?? settings.method;
  const filled = fillUrl(dry?.url ?? settings.url, run.params);
  if ('error' in filled) return { ok: false, output: '', summary: `${prefix}${filled.error}` };
  const { url } = filled;

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings.headers)) {
    if (typeof value === 'string') {
      headers[name] = fill(value, run.params);
      continue;
    }
    const secret = ownValue(run.env, value.env);
    if (!secret)
      return { ok: false, output: '', summary: `${prefix}${value.env} is not set (header ${name})` };
    headers[name] = `${value.prefix ?? ''}${secret}`;
  }
  const bodyTemplate = dry?.body ?? settings.body;
  const body = bodyTemplate === undefined ? undefined : JSON.stringify(fillBody(bodyTemplate, run.params));
  if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }

  const what = `${method} ${url}`;
  const output = new CappedOutput();
  const deadline = startDeadline(run);
  const result = (ok: boolean, summary: string): DriverResult => ({
    ok,
    output: output.toString(),
    summary: `${prefix}${summary}`,
  });
  try {
    // Redirects are not followed: secret headers must not travel to wherever a Location points.
    const response = await fetch(url, { method, headers, body, redirect: 'manual', signal: deadline.signal });
    const status = `${response.status} ${response.statusText}`.trim();
    output.write(`${status}\n`);
    // The status decides: a 2xx says the target acted, however its body then ends (stalled past the
    // timeout, cut off), and a run recorded failed would be requested, and done, again.
    const cut = await readInto(output, response.body).then(
      () => undefined,
      (err: unknown) => deadline.reason() ?? errorText(err),
    );
    const cutShort = cut ? ` (its answer cut short: ${cut})` : '';
    if (response.ok) return result(true, `${what} → ${status}${cutShort}`);
    const location = response.headers.get('location');
    if (cut && !location) return result(false, `${what} → ${status}${cutShort}`);
    const why = location
      ? `redirects to ${location}, which is not followed`
      : lastLine(output.toString().slice(status.length));
    return result(false, `${what} → ${status}${why && `: ${why}`}`);
  } catch (err) {
    const stopped = deadline.reason();
    if (stopped) return { ...result(false, ''), summary: stopped };
    return result(false, `${what} failed: ${errorText(err)}`);
  } finally {
    deadline.dispose();
  }
}
