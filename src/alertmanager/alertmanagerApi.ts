import { Agent, fetch } from 'undici';
import { z } from 'zod';
import { secretForms, withoutQuotedCredentials } from '../primitives/credentials.js';
import { AlertmanagerError } from './errors.js';

/** How the bot proves who it is to Alertmanager (or to the proxy in front of it). From the environment. */
export type AlertmanagerAuth =
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; username: string; password: string };

/** A silence matches alerts by label equality only: the bot never writes regex or negative matchers. */
/** A label to match: equal to `value` unless Alertmanager says otherwise (a silence made in its UI). */
export interface SilenceMatcher {
  name: string;
  value: string;
  /** `value` is a regular expression (=~, !~). */
  isRegex?: boolean;
  /** false: the label must not match (!=, !~). */
  isEqual?: boolean;
}

export interface SilenceSpec {
  matchers: SilenceMatcher[];
  startsAt: Date;
  endsAt: Date;
  createdBy: string;
  comment: string;
}

export interface Silence extends SilenceSpec {
  id: string;
  state: 'active' | 'pending' | 'expired';
}

// Alertmanager's silence ids are UUIDs; anything else is refused before it reaches a URL path.
const SILENCE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const PostedSchema = z.object({ silenceID: z.string().regex(SILENCE_ID) });
const GettableSilenceSchema = z.object({
  id: z.string(),
  status: z.object({ state: z.enum(['active', 'pending', 'expired']) }),
  matchers: z.array(
    z.object({
      name: z.string(),
      value: z.string(),
      isRegex: z.boolean().default(false),
      isEqual: z.boolean().default(true),
    }),
  ),
  startsAt: z.coerce.date(),
  endsAt: z.coerce.date(),
  createdBy: z.string(),
  comment: z.string(),
});

const LiveAlertsSchema = z.array(z.object({ fingerprint: z.string() }));
// When the peer started (Alertmanager's `uptime` is a time, not a duration).
const StatusSchema = z.object({ uptime: z.coerce.date() });

// A label name as Alertmanager's (classic) matcher syntax writes it.
const MATCHER_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A label value inside a matcher's double quotes, escaped as Alertmanager's matcher syntax reads it. */
function quotedValue(value: string): string {
  return value.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n');
}

// What a refusal may carry into Slack: Alertmanager's reason, not a page of HTML from a proxy.
const MAX_REASON = 300;

/**
 * Alertmanager's v2 silence API over an HA cluster. Each call goes to the first peer that answers:
 * peers gossip silences to each other, so one write is enough. A peer that cannot be reached, times out
 * or fails (5xx, or a 404 that is not Alertmanager's) passes the call to the next; an answer that
 * refuses it (4xx) is final, as is Alertmanager saying it does not know a silence. A silence's POST is
 * the exception: it is not idempotent (sent to two peers, it makes two silences), so once a peer may
 * have received it, a lost answer is final too (ALERTMANAGER_OUTCOME_UNKNOWN), and the caller looks for
 * it rather than sending it again.
 */
export class AlertmanagerApi {
  constructor(
    private readonly urls: readonly string[],
    private readonly auth: AlertmanagerAuth | undefined,
    private readonly timeoutMs: number,
    /** See alertmanager.alertsResentWithin (configSchema.ts). */
    private readonly alertsResentWithin = 5 * 60_000,
  ) {
    // A peer whose host does not answer at all (gone, a dropped route) fails its connection within half
    // the call's time, as never sent (UND_ERR_CONNECT_TIMEOUT): a silence's POST then goes to the next
    // peer, where the call's own timeout would leave its outcome unknown and go no further.
    this.dispatcher = new Agent({ connect: { timeout: Math.ceil(timeoutMs / 2) } });
  }

  private readonly dispatcher: Agent;

  /**
   * Creates a silence, or updates the one `id` names. Alertmanager keeps the id only when matchers and
   * startsAt are unchanged; otherwise it expires the old silence and returns a new id: keep what it returns.
   */
  async postSilence(spec: SilenceSpec, id?: string): Promise<string> {
    const body = {
      ...(id ? { id: silenceId(id) } : {}),
      matchers: spec.matchers.map((m) => ({
        name: m.name,
        value: m.value,
        isRegex: m.isRegex ?? false,
        isEqual: m.isEqual ?? true,
      })),
      startsAt: spec.startsAt.toISOString(),
      endsAt: spec.endsAt.toISOString(),
      createdBy: spec.createdBy,
      comment: spec.comment,
    };
    const answer = await this.call('POST', 'api/v2/silences', body);
    const posted = PostedSchema.safeParse(answer);
    if (!posted.success) {
      throw new AlertmanagerError('ALERTMANAGER_REFUSED', 'Alertmanager answered without a silence id');
    }
    return posted.data.silenceID;
  }

  /** Expires a silence now. Expiring one that has already ended is not an error. */
  async expireSilence(id: string): Promise<void> {
    await this.call('DELETE', `api/v2/silence/${silenceId(id)}`);
  }

  async getSilence(id: string): Promise<Silence> {
    const answer = GettableSilenceSchema.safeParse(await this.call('GET', `api/v2/silence/${silenceId(id)}`));
    if (!answer.success) {
      throw new AlertmanagerError(
        'ALERTMANAGER_REFUSED',
        'Alertmanager answered with something not a silence',
      );
    }
    return toSilence(answer.data);
  }

  /** Every silence the peer knows, expired ones too (it keeps them for its retention period). */
  async listSilences(): Promise<Silence[]> {
    const answer = z.array(GettableSilenceSchema).safeParse(await this.call('GET', 'api/v2/silences'));
    if (!answer.success) {
      throw new AlertmanagerError(
        'ALERTMANAGER_REFUSED',
        'Alertmanager answered with something not silences',
      );
    }
    return answer.data.map(toSilence);
  }

  /**
   * The fingerprints of the alerts still live (firing, silenced and inhibited ones too; resolved ones are
   * not listed) that Alertmanager sends `receiver` and whose labels include `labels`. Every peer is asked,
   * since each holds the alerts Prometheus sent it: one live on any peer is live, and a peer that does not
   * answer fails the look rather than leave an alert out. A peer keeps alerts in memory only, so one
   * started less than `alertsResentWithin` ago may not have been sent them again yet: unless one that
   * answers has run longer, the look fails (ALERTMANAGER_UNSETTLED), to be tried again.
   */
  async liveAlerts(receiver: string, labels: Readonly<Record<string, string>>): Promise<Set<string>> {
    const query = new URLSearchParams({
      active: 'true',
      silenced: 'true',
      inhibited: 'true',
      unprocessed: 'true',
      // Alertmanager anchors it as a regex: the name is matched as it is.
      receiver: receiver.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&'),
    });
    // A name Alertmanager's matcher syntax cannot write is left out of the filter: more alerts match, and
    // an alert is never thought gone for it.
    for (const [name, value] of Object.entries(labels))
      if (MATCHER_NAME.test(name)) query.append('filter', `${name}="${quotedValue(value)}"`);
    const live = new Set<string>();
    let settled = false;
    for (const url of this.urls) {
      const status = StatusSchema.safeParse(await this.call('GET', 'api/v2/status', undefined, [url]));
      if (status.success && Date.now() - status.data.uptime.getTime() >= this.alertsResentWithin)
        settled = true;
      const answer = LiveAlertsSchema.safeParse(
        await this.call('GET', `api/v2/alerts?${query}`, undefined, [url]),
      );
      if (!answer.success)
        throw new AlertmanagerError(
          'ALERTMANAGER_REFUSED',
          'Alertmanager answered with something not alerts',
        );
      for (const alert of answer.data) live.add(alert.fingerprint);
    }
    if (!settled)
      throw new AlertmanagerError(
        'ALERTMANAGER_UNSETTLED',
        `every Alertmanager asked started less than ${this.alertsResentWithin / 1000} s ago (alertmanager.alertsResentWithin): it may not have been sent every alert again yet`,
      );
    return live;
  }

  private async call(method: string, path: string, body?: unknown, peers = this.urls): Promise<unknown> {
    // Only the POST that creates or updates a silence makes something new each time it is taken.
    const repeatable = method !== 'POST';
    const failures: string[] = [];
    const unknownOutcome = (failure: string) =>
      new AlertmanagerError(
        'ALERTMANAGER_OUTCOME_UNKNOWN',
        `its answer was lost (${[...failures, failure].join('; ')})`,
      );
    for (const base of peers) {
      const url = new URL(path, base);
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method,
          headers: {
            accept: 'application/json',
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...this.authorization(),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          // Credentials go to the configured peers only, never to where a redirect points.
          redirect: 'error',
          signal: AbortSignal.timeout(this.timeoutMs),
          dispatcher: this.dispatcher,
        });
        text = await response.text();
      } catch (err) {
        const failure = `${url.host}: ${unreachable(err)}`;
        if (!repeatable && !neverSent(err)) throw unknownOutcome(failure);
        failures.push(failure);
        continue;
      }
      // Only a failed answer is read for a reason: a silence's own comment may say "silence not found",
      // and a list of silences is not parsed twice. Alertmanager 0.25 answers a DELETE of an unknown
      // silence with 500, later ones with 404.
      const said = response.ok ? '' : saidIn(text);
      const reason = shortened(oneLine(withoutCredentials(said, this.credentials())));
      // An empty 404 is Alertmanager's about one silence (a GET; a DELETE since 0.26): elsewhere a
      // proxy's (Envoy's no-route answer has no body).
      const oneSilence = path.startsWith('api/v2/silence/');
      if (
        /silence\s+not\s+found/i.test(said) ||
        (response.status === 404 && oneSilence && unknownSilence(text))
      ) {
        throw new AlertmanagerError('SILENCE_NOT_FOUND', `Alertmanager does not know that silence`, 404);
      }
      // Any other 404 is not Alertmanager's answer about a silence: an ingress's or a proxy's page (no
      // backend yet, mid-rollout) or a wrong base path. That peer failed; nothing reached Alertmanager.
      if (response.status >= 500 || response.status === 404) {
        const failure = `${url.host}: HTTP ${response.status}${reason ? ` ${reason}` : ''}`;
        // A gateway's 502/504 may come after Alertmanager took it.
        if (!repeatable && response.status !== 404) throw unknownOutcome(failure);
        failures.push(failure);
        continue;
      }
      if (!response.ok) {
        throw new AlertmanagerError(
          'ALERTMANAGER_REFUSED',
          `Alertmanager refused it (HTTP ${response.status})${reason ? `: ${reason}` : ''}`,
          response.status,
        );
      }
      try {
        return text ? JSON.parse(text) : undefined;
      } catch {
        throw new AlertmanagerError('ALERTMANAGER_REFUSED', 'Alertmanager answered with something not JSON');
      }
    }
    throw new AlertmanagerError(
      'ALERTMANAGER_UNREACHABLE',
      `no Alertmanager answered (${failures.join('; ')})`,
    );
  }

  private authorization(): Record<string, string> {
    if (!this.auth) return {};
    if (this.auth.kind === 'bearer') return { authorization: `Bearer ${this.auth.token}` };
    const pair = Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64');
    return { authorization: `Basic ${pair}` };
  }

  /** The credentials as a request carries them, to hide in an answer that quotes them (a proxy's 401). */
  private credentials(): string[] {
    if (!this.auth) return [];
    if (this.auth.kind === 'bearer') return [this.auth.token];
    const pair = `${this.auth.username}:${this.auth.password}`;
    return [Buffer.from(pair).toString('base64'), pair, this.auth.password].filter((secret) => secret !== '');
  }
}

function toSilence({ status, ...silence }: z.infer<typeof GettableSilenceSchema>): Silence {
  return { ...silence, state: status.state };
}

function silenceId(id: string): string {
  if (!SILENCE_ID.test(id)) throw new AlertmanagerError('SILENCE_NOT_FOUND', 'that is not a silence id');
  return id;
}

// Failures that leave nothing taken: no connection was made, or a redirect answered (a login page, say:
// Alertmanager itself never redirects its API).
const NEVER_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverSent(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return NEVER_SENT.has(cause?.code ?? '') || cause?.message === 'unexpected redirect';
}

/** Alertmanager's own 404 for a silence it does not know: no body (0.25's GET), or JSON null. */
function unknownSilence(text: string): boolean {
  const trimmed = text.trim();
  return trimmed === '' || trimmed === 'null';
}

function unreachable(err: unknown): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return 'timed out';
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String(err);
}

/** Alertmanager's own reason: a JSON string, or an object's `message`, as written. */
function saidIn(text: string): string {
  let reason = text;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'string') reason = parsed;
    else if (parsed && typeof parsed === 'object' && 'message' in parsed) reason = String(parsed.message);
  } catch {
    // Not JSON: the text itself.
  }
  return reason;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * A reason without the bot's credentials, in any form a proxy's 401 may quote them, before it is cut: a
 * part left by the cut would not match them.
 */
function withoutCredentials(reason: string, credentials: readonly string[]): string {
  let out = reason;
  for (const form of secretForms(credentials)) out = out.replaceAll(form, '[REDACTED]');
  return withoutQuotedCredentials(out, '[REDACTED]');
}

function shortened(reason: string): string {
  return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
}
