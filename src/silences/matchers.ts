import type { SilenceMatcher } from '../alertmanager/alertmanagerApi.js';
import { isStorableText, UNSTORABLE_TEXT } from '../primitives/text.js';
import { escapeMrkdwn, quoted } from '../render/mrkdwn.js';
import { SilenceError } from './errors.js';

/** Where the matchers a silence starts from were taken: the group's labels, or all its alerts' common ones. */
export type MatcherSource = 'groupLabels' | 'commonLabels';

// Prometheus' label names; Alertmanager refuses any other.
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MAX_MATCHERS = 64;
const MAX_VALUE = 1000;

const toMatchers = (labels: Record<string, string>): SilenceMatcher[] =>
  Object.entries(labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => ({ name, value }));

// Labels that, with nothing but each other, name far more than one incident's alerts.
const GENERIC_LABELS = new Set(['alertname', 'severity']);

/** One kind of alert on one thing: `alertname` and a label besides the generic ones. */
const namesOneThing = (labels: Record<string, string>) =>
  'alertname' in labels && Object.keys(labels).some((name) => !GENERIC_LABELS.has(name));

/**
 * The common labels a silence may start from: those the incident's alerts share now while they name one
 * kind of alert on one thing (an incident of several alertnames or services on a route without group_by
 * can share `severity` alone, which would mute every such alert everywhere); else its first
 * notification's, if they do and hold every label shared now (so name less than the incident, never
 * more); else none, and the matchers must be named.
 */
export function silenceableCommonLabels(
  shared: Record<string, string>,
  first: Record<string, string>,
): Record<string, string> {
  if (namesOneThing(shared)) return shared;
  const narrower = Object.entries(shared).every(([name, value]) => first[name] === value);
  return namesOneThing(first) && narrower ? first : {};
}

/**
 * The matchers a silence of this incident starts from, and where they came from: the group's
 * `groupLabels`, unless they are too broad to name this incident alone, then its `commonLabels`.
 * Too broad: empty (a route without group_by) or `alertname` alone, which would mute that alert on
 * every service and cluster; the common labels are taken instead when they say more.
 */
export function proposedMatchers(incident: {
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
}): { matchers: SilenceMatcher[]; source: MatcherSource } {
  const group = Object.keys(incident.groupLabels);
  const tooBroad = group.every((name) => name === 'alertname');
  if (tooBroad && Object.keys(incident.commonLabels).length > group.length) {
    return { matchers: toMatchers(incident.commonLabels), source: 'commonLabels' };
  }
  return { matchers: toMatchers(incident.groupLabels), source: 'groupLabels' };
}

const DURATION = /^(\d{1,7})(m|h|d)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** '2h', '30m', '1d', '4h'… → ms; refuses 0, negative, unparseable, and above maxMs (BAD_DURATION). */
export function parseSilenceDuration(text: string, maxMs: number): number {
  const found = DURATION.exec(text.trim().toLowerCase());
  const ms = found ? Number(found[1]) * UNIT_MS[found[2] as keyof typeof UNIT_MS] : 0;
  if (!found || ms <= 0) {
    throw new SilenceError(
      'BAD_DURATION',
      `${quoted(text)} is not a duration: give minutes, hours or days above zero, like 30m, 2h or 1d.`,
    );
  }
  if (ms > maxMs) {
    throw new SilenceError(
      'BAD_DURATION',
      `A silence may last at most ${spokenDuration(maxMs)} (silences.maxDuration); ${quoted(text)} is longer.`,
    );
  }
  return ms;
}

/** A maximum as people say it: `7 days`, `36 h`, `90 min`. */
function spokenDuration(ms: number): string {
  if (ms % UNIT_MS.d === 0) return `${ms / UNIT_MS.d} day${ms === UNIT_MS.d ? '' : 's'}`;
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h} h`;
  return `${Math.floor(ms / UNIT_MS.m)} min`;
}

/**
 * 'name=value' or 'name="value"', one per line, as the silence form takes them. Only equality: a regex or
 * negative matcher (=~, !=, !~) is refused rather than turned into something else. An empty set is
 * refused, as Alertmanager refuses it.
 */
export function parseSilenceMatchers(text: string): SilenceMatcher[] {
  // Alertmanager would take the silence, and PostgreSQL then refuse its record.
  if (!isStorableText(text)) throw new SilenceError('BAD_MATCHERS', `This field ${UNSTORABLE_TEXT}.`);
  const matchers: SilenceMatcher[] = [];
  for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
    if (!line) continue;
    const at = line.indexOf('=');
    const name = at < 0 ? line : line.slice(0, at).trim();
    const rest = at < 0 ? '' : line.slice(at + 1).trim();
    if (/[!~]$/.test(name) || rest.startsWith('~')) {
      throw new SilenceError(
        'BAD_MATCHERS',
        `${quoted(line)}: only name=value matchers are possible here (no regex, no negation).`,
      );
    }
    if (at < 0 || !LABEL_NAME.test(name)) {
      throw new SilenceError(
        'BAD_MATCHERS',
        `${quoted(line)} is not a matcher: write one name=value per line, like service=payments-api.`,
      );
    }
    const value = unquote(rest, line);
    if (!value)
      throw new SilenceError('BAD_MATCHERS', `${quoted(line)}: give ${escapeMrkdwn(name)} a value.`);
    if (value.length > MAX_VALUE) {
      throw new SilenceError(
        'BAD_MATCHERS',
        `The value of ${escapeMrkdwn(name)} is over ${MAX_VALUE} characters.`,
      );
    }
    if (matchers.some((m) => m.name === name)) {
      throw new SilenceError('BAD_MATCHERS', `${escapeMrkdwn(name)} is matched twice: keep one value.`);
    }
    matchers.push({ name, value });
  }
  checkMatchers(matchers);
  return matchers;
}

/** A set Alertmanager would take: at least one matcher, not too many. */
export function checkMatchers(matchers: readonly SilenceMatcher[]): void {
  if (matchers.length === 0) {
    throw new SilenceError(
      'BAD_MATCHERS',
      'A silence needs at least one matcher (name=value): with none it would silence every alert.',
    );
  }
  if (matchers.length > MAX_MATCHERS) {
    throw new SilenceError('BAD_MATCHERS', `A silence takes at most ${MAX_MATCHERS} matchers.`);
  }
}

/**
 * "value" with \", \\ and \n inside, as Alertmanager's own matcher syntax (and the form) writes it; any
 * other backslash stays as typed. Bare text is taken as it is. A quote opened and not closed at the end
 * of the line is refused: taken as text, it would match nothing.
 */
function unquote(text: string, line: string): string {
  if (!text.startsWith('"')) return text;
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      if (i === text.length - 1) return value;
      break;
    }
    if (c === '\\' && i + 1 < text.length) {
      const next = text[++i]!;
      value += next === 'n' ? '\n' : next === '"' || next === '\\' ? next : `\\${next}`;
    } else {
      value += c;
    }
  }
  throw new SilenceError(
    'BAD_MATCHERS',
    `${quoted(line)}: a value that opens a quote (") must close it at the end of the line.`,
  );
}
