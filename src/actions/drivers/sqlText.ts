/**
 * Turns a SQL statement with {{param}} placeholders into text with bind parameters ($1, $2, …): a param
 * value is never spliced into SQL. A placeholder may therefore stand only where a value goes; one inside a
 * quoted string, a quoted name, a comment or a dollar-quoted body, glued to a name, or where a name goes
 * (after TABLE, FROM, INTO, …) is refused with a problem to report at config load. Names in other places
 * the keyword check cannot see are refused by Postgres itself, as a syntax error at run time.
 */

export interface CompiledStatement {
  /** The statement with $1…$n in place of the placeholders. */
  text: string;
  /** Param names, in bind order ($1 is params[0]); a name used twice binds once. */
  params: string[];
  problems: string[];
}

// Words after which a name (a table, an index, a role…) goes, never a value.
const NAME_KEYWORDS = new Set([
  'TABLE',
  'INDEX',
  'VIEW',
  'SEQUENCE',
  'SCHEMA',
  'DATABASE',
  'ROLE',
  'USER',
  'INTO',
  'UPDATE',
  'JOIN',
  'TRUNCATE',
  'EXISTS',
  'ONLY',
  'TYPE',
  'FROM',
]);

const PLACEHOLDER = /\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}/y;
const ANY_PLACEHOLDER = /\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}/g;
const SINGLE_QUOTED = /'(?:[^']|'')*(?:'|$)/y;
const ESCAPE_STRING = /[eE]'(?:[^'\\]|''|\\[\s\S])*(?:'|$)/y;
const DOUBLE_QUOTED = /"(?:[^"]|"")*(?:"|$)/y;
const LINE_COMMENT = /--[^\n]*/y;
const DOLLAR_TAG = /\$([A-Za-z_][A-Za-z0-9_]*)?\$/y;
const NAME_CHAR = /[A-Za-z0-9_$]/;

function at(re: RegExp, sql: string, i: number): RegExpExecArray | null {
  re.lastIndex = i;
  return re.exec(sql);
}

/** The end of a block comment starting at i (Postgres nests them). */
function blockCommentEnd(sql: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql.startsWith('/*', j)) {
      depth++;
      j += 2;
    } else if (sql.startsWith('*/', j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return j;
}

function nameProblem(sql: string, start: number, end: number, name: string): string | undefined {
  const before = sql.slice(0, start);
  const prev = before.at(-1) ?? ' ';
  const next = sql[end] ?? ' ';
  if (NAME_CHAR.test(prev) || NAME_CHAR.test(next) || '."'.includes(prev) || '."'.includes(next)) {
    return `{{${name}}} is glued to a name; a param may only stand for a whole value`;
  }
  if (/::\s*$/.test(before))
    return `{{${name}}} stands where a type name goes; a param may only stand for a value`;
  const words = /(?:([A-Za-z_]+)\s+)?([A-Za-z_]+)\s*$/.exec(before);
  const word = words?.[2]?.toUpperCase();
  // "IS DISTINCT FROM {{x}}" compares with a value.
  if (word && NAME_KEYWORDS.has(word) && !(word === 'FROM' && words?.[1]?.toUpperCase() === 'DISTINCT')) {
    return `{{${name}}} stands where a name goes (after ${word}); a param may only stand for a value`;
  }
  return undefined;
}

const IN_STRING = 'a quoted string; write it bare, it is sent as a bind parameter';

/** The quoted string, quoted name, comment or dollar-quoted body starting at i, if any: its length and what it is. */
function opaqueAt(sql: string, i: number): { length: number; what: string } | undefined {
  const prevIsName = i > 0 && NAME_CHAR.test(sql[i - 1]!);
  const string = (!prevIsName && at(ESCAPE_STRING, sql, i)) || at(SINGLE_QUOTED, sql, i);
  if (string) return { length: string[0].length, what: IN_STRING };
  const quotedName = at(DOUBLE_QUOTED, sql, i);
  if (quotedName)
    return { length: quotedName[0].length, what: 'a quoted name; a param may only stand for a value' };
  const lineComment = at(LINE_COMMENT, sql, i);
  if (lineComment) return { length: lineComment[0].length, what: 'a comment' };
  if (sql.startsWith('/*', i)) return { length: blockCommentEnd(sql, i) - i, what: 'a comment' };
  const tag = prevIsName ? null : at(DOLLAR_TAG, sql, i);
  if (tag) {
    const close = sql.indexOf(tag[0], i + tag[0].length);
    return {
      length: close === -1 ? sql.length - i : close + tag[0].length - i,
      what: 'a dollar-quoted body, where no bind parameter reaches',
    };
  }
  return undefined;
}

export function compileStatement(sql: string): CompiledStatement {
  const params: string[] = [];
  const problems: string[] = [];
  let text = '';
  let i = 0;
  let ended = false; // a ";" was seen, so more code means a second statement
  let multiple = false;
  while (i < sql.length) {
    const c = sql[i]!;
    if (ended && !/[\s;]/.test(c) && !sql.startsWith('--', i) && !sql.startsWith('/*', i)) multiple = true;
    const placeholder = at(PLACEHOLDER, sql, i);
    const opaque = placeholder ? undefined : opaqueAt(sql, i);
    if (placeholder) {
      const name = placeholder[1]!;
      const problem = nameProblem(sql, i, i + placeholder[0].length, name);
      if (problem) problems.push(problem);
      if (!params.includes(name)) params.push(name);
      text += `$${params.indexOf(name) + 1}`;
      i += placeholder[0].length;
    } else if (opaque) {
      const chunk = sql.slice(i, i + opaque.length);
      for (const m of chunk.matchAll(ANY_PLACEHOLDER)) problems.push(`{{${m[1]}}} is inside ${opaque.what}`);
      text += chunk;
      i += opaque.length;
    } else {
      if (c === ';') ended = true;
      if (c === '$' && !NAME_CHAR.test(sql[i - 1] ?? ' ') && /\d/.test(sql[i + 1] ?? '')) {
        problems.push(
          'write {{name}} placeholders instead of $1, $2…: the driver numbers the bind parameters',
        );
      }
      text += c;
      i++;
    }
  }
  if (multiple && params.length > 0) {
    problems.push('a statement with {{placeholders}} must be one statement: split it into several');
  }
  return { text, params, problems };
}

const TRANSACTION_CONTROL = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT']);

/**
 * The first transaction-control statement in some SQL (BEGIN, COMMIT, ROLLBACK…), if any. The driver runs
 * everything in a transaction of its own: a COMMIT inside would make a dry run real, a ROLLBACK would leave
 * what follows outside any transaction.
 */
export function transactionControl(sql: string): string | undefined {
  const statements: string[] = [];
  let code = '';
  let i = 0;
  while (i < sql.length) {
    const opaque = opaqueAt(sql, i);
    if (opaque) {
      code += ' ';
      i += opaque.length;
      continue;
    }
    if (sql[i] === ';') {
      statements.push(code);
      code = '';
    } else code += sql[i];
    i++;
  }
  statements.push(code);
  for (const statement of statements) {
    const [first = '', second = ''] = statement.trim().toUpperCase().split(/\s+/);
    if (TRANSACTION_CONTROL.has(first)) return first;
    if (first === 'PREPARE' && second === 'TRANSACTION') return 'PREPARE TRANSACTION';
  }
  return undefined;
}
