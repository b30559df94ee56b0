/**
 * PromQL text the bot writes: a check's query with the alert's label values filled in, escaped so that
 * no value can end its string and change the query, and how a series and a graph link are shown.
 */

/** `{{labels.service}}`: the alert's label of that name (group and common labels). */
const PLACEHOLDER = /^\{\{\s*labels\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;

/** Where a placeholder sits in a query, and what its value must be escaped as. */
interface Slot {
  label: string;
  start: number;
  end: number;
  /** The operand of a `=~` or `!~` matcher: the value is matched literally, its regex characters escaped. */
  regex: boolean;
}

export class QueryTemplateError extends Error {
  readonly code = 'QUERY_TEMPLATE_INVALID';
}

/**
 * The placeholders of a query, each inside a double-quoted string, the only place an escaped value is
 * safe: outside one, or in a comment, a value is PromQL code; '…' and `…` strings escape differently.
 */
export function querySlots(query: string): Slot[] {
  const slots: Slot[] = [];
  let quote: string | undefined;
  let opened = 0;
  let regex = false;
  for (let i = 0; i < query.length; i++) {
    const char = query[i]!;
    if (query.startsWith('{{', i)) {
      const close = query.indexOf('}}', i + 2);
      const text = query.slice(i, close < 0 ? undefined : close + 2);
      const label = PLACEHOLDER.exec(text)?.[1];
      if (close < 0 || !label) {
        throw new QueryTemplateError(
          `expected a placeholder like {{labels.service}}, got ${text.slice(0, 40)}`,
        );
      }
      if (quote !== '"') {
        throw new QueryTemplateError(
          quote === undefined
            ? `${text} is outside a string: write it inside double quotes, like service="${text}", so that the alert's value is escaped as a PromQL string`
            : `${text} is inside a ${quote}…${quote} string: use double quotes ("…"), where the alert's value is escaped`,
        );
      }
      slots.push({ label, start: i, end: close + 2, regex });
      i = close + 1;
    } else if (quote) {
      if (char === '\\' && quote !== '`') i++;
      else if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'" || char === '`') {
      quote = char;
      opened = i;
      regex = /[=!]~\s*$/.test(query.slice(0, i));
    } else if (char === '#') {
      const end = query.indexOf('\n', i);
      if (query.slice(i, end < 0 ? undefined : end).includes('{{')) {
        throw new QueryTemplateError('a placeholder in a comment would let the value end it: remove it');
      }
      i = end < 0 ? query.length : end;
    }
  }
  if (quote) throw new QueryTemplateError(`the string opened at character ${opened + 1} is not closed`);
  return slots;
}

/** The labels a query's placeholders name, in order of first use. */
export function queryLabels(query: string): string[] {
  return [...new Set(querySlots(query).map((slot) => slot.label))];
}

/**
 * The query with each placeholder replaced by its label's value, escaped; the names of the labels
 * missing from `labels` when any is.
 */
export function fillQuery(
  query: string,
  labels: Readonly<Record<string, string>>,
): { query: string } | { missing: string[] } {
  const slots = querySlots(query);
  const missing = [...new Set(slots.map((s) => s.label).filter((label) => !Object.hasOwn(labels, label)))];
  if (missing.length) return { missing };
  let out = '';
  let from = 0;
  for (const slot of slots) {
    const value = labels[slot.label]!;
    out += query.slice(from, slot.start) + promqlString(slot.regex ? regexLiteral(value) : value);
    from = slot.end;
  }
  return { query: out + query.slice(from) };
}

const STRING_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * `value` as the inside of a PromQL double-quoted string (Go's escapes). Other control characters and
 * U+FFFD, which Prometheus's lexer takes for invalid UTF-8, are written as \u escapes; a lone surrogate,
 * which UTF-8 cannot carry, becomes U+FFFD first.
 */
export function promqlString(value: string): string {
  return value
    .toWellFormed()
    .replace(
      /[\\"\p{Cc}\ufffd]/gu,
      (char) => STRING_ESCAPES[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
}

/** `value` as an RE2 pattern matching exactly it (Go's regexp.QuoteMeta). */
export function regexLiteral(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** A series as Prometheus shows it: `name{label="value", …}`. */
export function seriesName(metric: Readonly<Record<string, string>>): string {
  const { __name__: name = '', ...labels } = metric;
  const pairs = Object.entries(labels).map(([label, value]) => `${label}="${promqlString(value)}"`);
  return pairs.length || !name ? `${name}{${pairs.join(', ')}}` : name;
}

/** The query's graph in Prometheus's expression browser (the link Prometheus itself puts on its rules). */
export function graphUrl(base: string, query: string): string {
  return `${base.replace(/\/+$/, '')}/graph?g0.expr=${encodeURIComponent(query)}&g0.tab=0&g0.range_input=1h`;
}
