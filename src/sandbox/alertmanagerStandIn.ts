import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/**
 * A small Alertmanager for the sandbox: the part of its v2 API the bot uses (silences, status), with
 * silences kept in memory and Alertmanager's semantics and answers (as 0.25 gives them), so that the
 * demo alert can be silenced with no Alertmanager installed. config/sandbox.yml points at it.
 */

export const STAND_IN_PATH = '/sandbox/alertmanager/';
// Alertmanager's label names (Prometheus's): anything else is refused, as it refuses it.
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SILENCE_PATH = /^api\/v2\/silence\/([^/]+)$/;

const PostableSilence = z.object({
  id: z.string().optional(),
  matchers: z
    .array(
      z.object({
        name: z.string(),
        value: z.string(),
        isRegex: z.boolean(),
        isEqual: z.boolean().default(true),
      }),
    )
    .min(1),
  startsAt: z.iso.datetime({ offset: true }),
  endsAt: z.iso.datetime({ offset: true }),
  createdBy: z.string(),
  comment: z.string(),
});
type Matcher = z.infer<typeof PostableSilence>['matchers'][number];

export interface Answer {
  status: number;
  body: unknown;
}

interface StoredSilence {
  id: string;
  matchers: Matcher[];
  startsAt: Date;
  endsAt: Date;
  updatedAt: Date;
  createdBy: string;
  comment: string;
}

export class AlertmanagerStandIn {
  private readonly silences = new Map<string, StoredSilence>();
  private readonly started = new Date();

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Answers a request whose path, below the stand-in's base, is `path` (e.g. `api/v2/silences`). */
  answer(method: string, path: string, body?: unknown): Answer {
    const silencePath = SILENCE_PATH.exec(path);
    const route = `${method} ${silencePath ? 'api/v2/silence/{id}' : path.split('?')[0]}`;
    const silence = silencePath ? this.silences.get(decodeURIComponent(silencePath[1]!)) : undefined;
    switch (route) {
      case 'GET api/v2/status':
        return { status: 200, body: this.status() };
      // Alerts go to the bot straight from the sandbox's senders: its Alertmanager holds none.
      case 'GET api/v2/alerts':
        return { status: 200, body: [] };
      case 'GET api/v2/silences':
        return { status: 200, body: [...this.silences.values()].map((s) => this.gettable(s)) };
      case 'POST api/v2/silences':
        return this.post(body);
      case 'GET api/v2/silence/{id}':
        return silence ? { status: 200, body: this.gettable(silence) } : { status: 404, body: null };
      case 'DELETE api/v2/silence/{id}':
        if (!silence) return { status: 404, body: 'silence not found' };
        this.expire(silence);
        return { status: 200, body: null };
      default:
        return { status: 404, body: `the sandbox's Alertmanager does not serve ${route}` };
    }
  }

  /** POST /api/v2/silences: creates, or updates the silence `id` names, as Alertmanager does. */
  private post(raw: unknown): Answer {
    const parsed = PostableSilence.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return { status: 422, body: { code: 602, message: `${issue.path.join('.')}: ${issue.message}` } };
    }
    const given = parsed.data;
    const invalid = matcherProblem(given.matchers);
    if (invalid) return { status: 400, body: `silence invalid: ${invalid}` };
    const now = this.now();
    // Alertmanager starts a silence whose start has passed now.
    const startsAt = new Date(Math.max(Date.parse(given.startsAt), now.getTime()));
    const endsAt = new Date(given.endsAt);
    if (endsAt <= now)
      return { status: 400, body: "Failed to create silence: end time can't be in the past" };
    if (endsAt <= startsAt)
      return { status: 400, body: 'Failed to create silence: start time must be before end time' };
    const previous = given.id === undefined ? undefined : this.silences.get(given.id);
    if (given.id !== undefined && !previous) return { status: 404, body: 'silence not found' };
    const fields = { matchers: given.matchers, endsAt, createdBy: given.createdBy, comment: given.comment };
    // The id stays only while the silence has not ended and matches the same alerts; otherwise the old
    // silence ends and a new one, with a new id, takes its place.
    if (previous && this.state(previous) !== 'expired' && sameMatchers(previous.matchers, given.matchers)) {
      Object.assign(previous, fields, { updatedAt: now });
      return { status: 200, body: { silenceID: previous.id } };
    }
    if (previous) this.expire(previous);
    const id = randomUUID();
    this.silences.set(id, { id, ...fields, startsAt, updatedAt: now });
    return { status: 200, body: { silenceID: id } };
  }

  private expire(silence: StoredSilence): void {
    if (this.state(silence) === 'expired') return;
    const now = this.now();
    // A silence that never started ends where it would have started.
    silence.endsAt = now < silence.startsAt ? silence.startsAt : now;
    silence.updatedAt = now;
  }

  private state(silence: StoredSilence): 'active' | 'pending' | 'expired' {
    const now = this.now();
    if (silence.endsAt <= now) return 'expired';
    return silence.startsAt > now ? 'pending' : 'active';
  }

  private gettable(silence: StoredSilence) {
    return {
      id: silence.id,
      status: { state: this.state(silence) },
      updatedAt: silence.updatedAt.toISOString(),
      comment: silence.comment,
      createdBy: silence.createdBy,
      endsAt: silence.endsAt.toISOString(),
      matchers: silence.matchers,
      startsAt: silence.startsAt.toISOString(),
    };
  }

  private status() {
    return {
      cluster: { status: 'disabled', peers: [] },
      config: { original: '# the sandbox stand-in: silences only\n' },
      uptime: this.started.toISOString(),
      versionInfo: {
        version: 'sandbox',
        branch: '',
        revision: '',
        buildUser: '',
        buildDate: '',
        goVersion: '',
      },
    };
  }
}

function matcherProblem(matchers: Matcher[]): string | undefined {
  for (const [i, m] of matchers.entries()) {
    if (!LABEL_NAME.test(m.name))
      return `invalid label matcher ${i}: invalid label name ${JSON.stringify(m.name)}`;
    if (m.isRegex) {
      try {
        new RegExp(`^(?:${m.value})$`);
      } catch {
        return `invalid label matcher ${i}: invalid regular expression`;
      }
    }
  }
  // A silence matching every alert would be an outage of its own: Alertmanager refuses it.
  const matchesEmpty = (m: Matcher) =>
    (m.isRegex ? new RegExp(`^(?:${m.value})$`).test('') : m.value === '') === m.isEqual;
  if (matchers.every(matchesEmpty)) return 'at least one matcher must not match the empty string';
  return undefined;
}

function sameMatchers(a: Matcher[], b: Matcher[]): boolean {
  const key = (ms: Matcher[]) =>
    JSON.stringify(ms.map((m) => [m.name, m.value, m.isRegex, m.isEqual]).sort());
  return key(a) === key(b);
}
