import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { type SlackMessage, validateBlocks } from './blockKit.js';
import { escapeMrkdwn } from './mrkdwn.js';

export const BUILTIN_TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

export class TemplateError extends Error {
  readonly code = 'TEMPLATE_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TemplateError';
  }
}

type hbs = typeof Handlebars;
type AstNode = hbs.AST.Node & Record<string, unknown>;

/** A string that belongs inside a JSON string literal: quotes, backslashes and newlines escaped. */
function jsonString(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

const ESCAPE_HELPER = '__escape';

const MAX_LINK_URL = 2000;

function safeUrl(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LINK_URL) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  // `|` would end the URL inside <url|text>; `<` and `>` would end the link. URL() already encoded spaces.
  const href = url.href
    .replace(/\|/g, '%7C')
    .replace(/</g, '%3C')
    .replace(/>/g, '%3E')
    .replace(/&/g, '&amp;');
  // Encoding lengthens a URL (é becomes %C3%A9): measure what Slack will count.
  return href.length <= MAX_LINK_URL ? href : undefined;
}

function registerHelpers(hb: hbs): void {
  const safe = (text: string) => new hb.SafeString(jsonString(text));
  // Every {{value}} in a template passes through here (see wrapEscapes): escaped for Slack, whose text
  // objects of both types treat & < > as control characters, then for the JSON string it lands in.
  hb.registerHelper(ESCAPE_HELPER, (value: unknown) => {
    if (value instanceof hb.SafeString) return value;
    if (value === undefined || value === null) return '';
    return safe(escapeMrkdwn(String(value)));
  });
  /** A link the bot builds: only http(s) URLs, with the label escaped; otherwise just the label. */
  hb.registerHelper('link', (url: unknown, ...rest: unknown[]) => {
    // Handlebars passes its options object last: with no label given, that object is all there is.
    const label = rest.length > 1 && typeof rest[0] === 'string' ? rest[0] : url;
    const text = escapeMrkdwn(String(label ?? ''));
    const href = safeUrl(url);
    return safe(href ? `<${href}|${text}>` : text);
  });
  /** A timestamp shown in each reader's own time zone, with a UTC fallback. */
  hb.registerHelper('date', (iso: unknown) => {
    const time = typeof iso === 'string' || iso instanceof Date ? new Date(iso) : undefined;
    if (!time || Number.isNaN(time.getTime())) return '';
    const unix = Math.floor(time.getTime() / 1000);
    const fallback = `${time.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    return safe(`<!date^${unix}^{date_short_pretty} {time}|${fallback}>`);
  });
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('plural', (count: unknown, singular: unknown, pluralForm: unknown) => {
    const n = Number(count);
    const word =
      n === 1 ? String(singular) : typeof pluralForm === 'string' ? pluralForm : `${String(singular)}s`;
    return `${n} ${word}`;
  });
}

/**
 * Rewrites every `{{expr}}` into `{{__escape (expr)}}`, so that escaping for Slack is the default for
 * template authors, as HTML escaping is Handlebars' default; and refuses `{{{expr}}}`, which would let an
 * alert's text through unescaped.
 */
function wrapEscapes(hb: hbs, node: AstNode, file: string): void {
  const visit = (child: unknown) => {
    if (child && typeof child === 'object') wrapEscapes(hb, child as AstNode, file);
  };
  if (node.type === 'Program') {
    const body = node.body as AstNode[];
    body.forEach((statement, i) => {
      if (statement.type === 'MustacheStatement') body[i] = escapeStatement(hb, statement, file);
      else visit(statement);
    });
    return;
  }
  // Every statement that holds template text of its own: blocks, partial blocks, decorator blocks.
  visit(node.program);
  visit(node.inverse);
}

function escapeStatement(hb: hbs, statement: AstNode, file: string): AstNode {
  const loc = statement.loc as hbs.AST.SourceLocation;
  if (!statement.escaped) {
    throw new TemplateError(
      `${file}:${loc.start.line}: triple-stash {{{…}}} is not allowed: values must be escaped for Slack`,
    );
  }
  const path = statement.path as AstNode;
  const params = statement.params as unknown[];
  const isHelperCall =
    params.length > 0 ||
    statement.hash !== undefined ||
    (path.type === 'PathExpression' && hb.helpers[String(path.original)] !== undefined);
  const inner = isHelperCall ? { type: 'SubExpression', path, params, hash: statement.hash, loc } : path;
  return {
    ...statement,
    path: {
      type: 'PathExpression',
      data: false,
      depth: 0,
      parts: [ESCAPE_HELPER],
      original: ESCAPE_HELPER,
      loc,
    },
    params: [inner],
    hash: undefined,
    escaped: false,
  } as AstNode;
}

export interface TemplateSource {
  name: string;
  file: string;
  text: string;
}

/** The message templates, compiled once at start: built-ins from `templates/`, overridden file by file. */
export class TemplateSet {
  private readonly hb = Handlebars.create();
  private readonly compiled = new Map<string, { file: string; render: Handlebars.TemplateDelegate }>();

  private constructor(sources: TemplateSource[]) {
    registerHelpers(this.hb);
    for (const source of sources) {
      let ast: hbs.AST.Program;
      try {
        ast = this.hb.parse(source.text);
      } catch (err) {
        throw new TemplateError(`${source.file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
      }
      wrapEscapes(this.hb, ast as unknown as AstNode, source.file);
      const render = this.hb.compile(ast, { noEscape: true });
      if (source.name.startsWith('_')) this.hb.registerPartial(source.name.slice(1), render);
      else this.compiled.set(source.name, { file: source.file, render });
    }
  }

  static async load(overridesDir?: string): Promise<TemplateSet> {
    const builtins = await readTemplateDir(BUILTIN_TEMPLATES_DIR);
    const overrides = overridesDir ? await readTemplateDir(overridesDir) : [];
    const unknown = overrides.filter((o) => !builtins.some((b) => b.name === o.name));
    if (unknown.length > 0) {
      throw new TemplateError(
        `${unknown.map((o) => o.file).join(', ')}: no built-in template has this name (expected one of ${builtins.map((b) => `${b.name}.hbs`).join(', ')})`,
      );
    }
    const byName = new Map(builtins.map((b) => [b.name, b]));
    for (const o of overrides) byName.set(o.name, o);
    return new TemplateSet(
      [...byName.values()].sort((a, b) => (a.name.startsWith('_') ? -1 : b.name.startsWith('_') ? 1 : 0)),
    );
  }

  names(): string[] {
    return [...this.compiled.keys()];
  }

  /** Renders a Block Kit message and checks it against Slack's limits. */
  renderMessage(name: string, view: object): SlackMessage {
    const template = this.compiled.get(name);
    if (!template) throw new TemplateError(`no template named ${name}`);
    let output: string;
    try {
      output = template.render(view);
    } catch (err) {
      throw new TemplateError(`${template.file}: ${(err as Error).message}`, { cause: err });
    }
    let message: SlackMessage;
    try {
      message = JSON.parse(output) as SlackMessage;
    } catch (err) {
      throw new TemplateError(`${template.file}: does not render valid JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const problems = [
      ...(typeof message.text === 'string' && message.text.length > 0
        ? []
        : ['text: expected a fallback text']),
      ...validateBlocks(message.blocks),
    ];
    if (problems.length > 0) throw new TemplateError(`${template.file}: ${problems.join('; ')}`);
    return message;
  }
}

async function readTemplateDir(dir: string): Promise<TemplateSource[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.hbs'));
  } catch (err) {
    throw new TemplateError(
      `${dir}: cannot read templates directory (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  return Promise.all(
    names.map(async (n) => ({
      name: basename(n, '.hbs'),
      file: join(dir, n),
      text: await readFile(join(dir, n), 'utf8'),
    })),
  );
}
