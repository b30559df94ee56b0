import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { type SlackMessage, validateBlocks } from './blockKit.js';
import { escapeMrkdwn, mention, slackDate, typedMrkdwn, userMention } from './mrkdwn.js';

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
  // Most values need nothing escaped: a scan is cheaper than JSON.stringify and a slice of what it makes.
  return JSON_ESCAPED.test(text) ? JSON.stringify(text).slice(1, -1) : text;
}
// What a JSON string cannot hold as it is: quotes, backslashes and control characters (\p{Cc} also holds
// U+007F to U+009F, which JSON.stringify leaves as they are). JSON.stringify also escapes lone surrogates,
// which renderMessage's JSON.parse reads the same either way.
const JSON_ESCAPED = /["\\\p{Cc}]/u;

const ESCAPE_HELPER = '__escape';

/**
 * `name.md.hbs` files are Markdown documents, rendered by `renderText`; every other template is a Block
 * Kit message, rendered by `renderMessage`. Each kind has its own helpers and partials.
 */
type TemplateKind = 'blockKit' | 'markdown';

function kindOf(name: string): TemplateKind {
  return name.endsWith('.md') ? 'markdown' : 'blockKit';
}

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
  /** Text a person typed: their mentions, channel links and links render; the rest is escaped. */
  hb.registerHelper('typed', (text: unknown) =>
    safe(typedMrkdwn(text === undefined || text === null ? '' : String(text))),
  );
  /** A timestamp shown in each reader's own time zone, with a UTC fallback. */
  hb.registerHelper('date', (iso: unknown) => {
    const time = typeof iso === 'string' || iso instanceof Date ? new Date(iso) : undefined;
    if (!time || Number.isNaN(time.getTime())) return '';
    return safe(slackDate(time));
  });
  /** A mention of a Slack user the bot knows by id; anything else is shown as escaped text. */
  hb.registerHelper('user', (id: unknown) => safe(userMention(id)));
  /** A mention of a Slack user or user group the bot knows by id (an escalation step's people). */
  hb.registerHelper('mention', (id: unknown) => safe(mention(id)));
  /** A link to a Slack channel the bot knows by id. */
  hb.registerHelper('channel', (id: unknown) =>
    safe(
      typeof id === 'string' && /^[CG][A-Z0-9]{2,}$/.test(id) ? `<#${id}>` : escapeMrkdwn(String(id ?? '')),
    ),
  );
  registerSharedHelpers(hb);
}

function registerSharedHelpers(hb: hbs): void {
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  // Handlebars passes its options object last.
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper('plural', (count: unknown, singular: unknown, pluralForm: unknown) => {
    const n = Number(count);
    const word =
      n === 1 ? String(singular) : typeof pluralForm === 'string' ? pluralForm : `${String(singular)}s`;
    return `${n} ${word}`;
  });
}

/**
 * A Markdown template writes a file, not Slack text: `{{value}}` is written as it is, Markdown included
 * (people write Markdown in notes). Only a line break can break the document's structure (a value in a
 * list item or heading starting a new block), so a template wraps values in `{{oneline value}}` wherever
 * they must stay on one line.
 */
function registerMarkdownHelpers(hb: hbs): void {
  hb.registerHelper(ESCAPE_HELPER, (value: unknown) => (value === undefined || value === null ? '' : value));
  /** Every run of whitespace, line breaks included, as one space. */
  hb.registerHelper('oneline', (value: unknown) =>
    value === undefined || value === null ? '' : String(value).replace(/\s+/g, ' ').trim(),
  );
  registerSharedHelpers(hb);
}

/**
 * Rewrites every `{{expr}}` into `{{__escape (expr)}}`, so that escaping for Slack is the default for
 * template authors, as HTML escaping is Handlebars' default; and refuses `{{{expr}}}`, which would let an
 * alert's text through unescaped. Markdown templates follow the same rule, though their `__escape`
 * escapes nothing: one rule for every template.
 */
function wrapEscapes(hb: hbs, node: AstNode, file: string, kind: TemplateKind): void {
  const visit = (child: unknown) => {
    if (child && typeof child === 'object') wrapEscapes(hb, child as AstNode, file, kind);
  };
  if (node.type === 'Program') {
    const body = node.body as AstNode[];
    body.forEach((statement, i) => {
      if (statement.type === 'MustacheStatement') body[i] = escapeStatement(hb, statement, file, kind);
      else visit(statement);
    });
    return;
  }
  // Every statement that holds template text of its own: blocks, partial blocks, decorator blocks.
  visit(node.program);
  visit(node.inverse);
}

function escapeStatement(hb: hbs, statement: AstNode, file: string, kind: TemplateKind): AstNode {
  const loc = statement.loc as hbs.AST.SourceLocation;
  if (!statement.escaped) {
    const why =
      kind === 'markdown' ? '{{…}} already writes values as they are' : 'values must be escaped for Slack';
    throw new TemplateError(`${file}:${loc.start.line}: triple-stash {{{…}}} is not allowed: ${why}`);
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

/** The templates, compiled once at start: built-ins from `templates/`, overridden file by file. */
export class TemplateSet {
  // Apart, so that a Markdown partial, which escapes nothing, can never be used in a Slack message.
  private readonly envs: Record<TemplateKind, hbs> = {
    blockKit: Handlebars.create(),
    markdown: Handlebars.create(),
  };
  private readonly compiled = new Map<
    string,
    { file: string; kind: TemplateKind; render: Handlebars.TemplateDelegate }
  >();

  /** Compiles every source it can; each one that does not compile is named in `problems`. */
  private constructor(sources: TemplateSource[], problems: string[]) {
    registerHelpers(this.envs.blockKit);
    registerMarkdownHelpers(this.envs.markdown);
    for (const source of sources) {
      try {
        this.compile(source);
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
        problems.push(err.message);
      }
    }
  }

  private compile(source: TemplateSource): void {
    const kind = kindOf(source.name);
    const hb = this.envs[kind];
    let ast: hbs.AST.Program;
    try {
      ast = hb.parse(source.text);
    } catch (err) {
      throw new TemplateError(`${source.file}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
    wrapEscapes(hb, ast as unknown as AstNode, source.file, kind);
    const render = hb.compile(ast, { noEscape: true });
    if (source.name.startsWith('_')) hb.registerPartial(source.name.slice(1), render);
    else this.compiled.set(source.name, { file: source.file, kind, render });
  }

  /** Loads the templates, failing with every problem found, one per line. */
  static async load(overridesDir?: string): Promise<TemplateSet> {
    const { templates, problems } = await TemplateSet.inspect(overridesDir);
    if (problems.length > 0) throw new TemplateError(problems.join('\n'));
    return templates;
  }

  /** The templates that compile, and a line for each problem with the rest (for `check-config`). */
  static async inspect(overridesDir?: string): Promise<{ templates: TemplateSet; problems: string[] }> {
    const problems: string[] = [];
    const builtins = await readTemplateDir(BUILTIN_TEMPLATES_DIR);
    let overrides: TemplateSource[] = [];
    try {
      if (overridesDir) overrides = await readTemplateDir(overridesDir);
    } catch (err) {
      if (!(err instanceof TemplateError)) throw err;
      problems.push(err.message);
    }
    const unknown = overrides.filter((o) => !builtins.some((b) => b.name === o.name));
    if (unknown.length > 0) {
      problems.push(
        `${unknown.map((o) => o.file).join(', ')}: no built-in template has this name (expected one of ${builtins.map((b) => `${b.name}.hbs`).join(', ')})`,
      );
    }
    const byName = new Map(builtins.map((b) => [b.name, b]));
    for (const o of overrides) if (byName.has(o.name)) byName.set(o.name, o);
    const sources = [...byName.values()].sort((a, b) =>
      a.name.startsWith('_') ? -1 : b.name.startsWith('_') ? 1 : 0,
    );
    return { templates: new TemplateSet(sources, problems), problems };
  }

  names(): string[] {
    return [...this.compiled.keys()];
  }

  private render(name: string, view: object, kind: TemplateKind): { file: string; output: string } {
    const template = this.compiled.get(name);
    if (!template) throw new TemplateError(`no template named ${name}`);
    if (template.kind !== kind) {
      throw new TemplateError(
        template.kind === 'markdown'
          ? `${name} is a Markdown template: render it with renderText`
          : `${name} is a Block Kit template: render it with renderMessage`,
      );
    }
    try {
      return { file: template.file, output: template.render(view) };
    } catch (err) {
      throw new TemplateError(`${template.file}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Renders a Markdown document (a `*.md.hbs` template). */
  renderText(name: string, view: object): string {
    const { file, output } = this.render(name, view, 'markdown');
    // An empty document is a broken template, not a post-mortem: say so at start, not at upload.
    if (output.trim() === '') throw new TemplateError(`${file}: renders an empty document`);
    return output;
  }

  /** Renders a Block Kit message and checks it against Slack's limits. */
  renderMessage(name: string, view: object): SlackMessage {
    const { file, output } = this.render(name, view, 'blockKit');
    let message: SlackMessage;
    try {
      message = JSON.parse(output) as SlackMessage;
    } catch (err) {
      throw new TemplateError(`${file}: does not render valid JSON: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const problems = [
      ...(typeof message.text === 'string' && message.text.length > 0
        ? []
        : ['text: expected a fallback text']),
      ...validateBlocks(message.blocks),
    ];
    if (problems.length > 0) throw new TemplateError(`${file}: ${problems.join('; ')}`);
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
