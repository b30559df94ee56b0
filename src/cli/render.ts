import { readFile } from 'node:fs/promises';
import { TemplateError, TemplateSet } from '../render/templates.js';
import { EXIT_CONFIG, EXIT_DATA, EXIT_NO_INPUT, EXIT_USAGE } from './exitCodes.js';

export const RENDER_USAGE = 'render <template> --data <file.json>';

/**
 * `incident-bot render <template> --data <file.json>`: what a template, built-in or overridden in
 * TEMPLATES_DIR, gives for the view in the file: Block Kit JSON, or the document for a `*.md` template.
 * Needs only the templates, so an override can be previewed anywhere. Returns the exit code.
 */
export async function renderCommand(
  args: string[],
  source: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const fail = (code: number, message: string) => {
    err.write(`incident-bot render: ${message}\n`);
    return code;
  };
  const parsed = parseArgs(args);
  if (typeof parsed === 'string') return fail(EXIT_USAGE, `${parsed}\nusage: incident-bot ${RENDER_USAGE}`);

  let templates: TemplateSet;
  try {
    templates = await TemplateSet.load(source.TEMPLATES_DIR || undefined);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return fail(EXIT_CONFIG, `the templates do not load:\n${e.message}`);
  }
  const name = parsed.template.replace(/\.hbs$/, '');
  if (!templates.names().includes(name)) {
    return fail(
      EXIT_USAGE,
      `no template named "${parsed.template}"; available: ${templates.names().sort().join(', ')}`,
    );
  }

  let text: string;
  try {
    text = await readFile(parsed.data, 'utf8');
  } catch (e) {
    return fail(EXIT_NO_INPUT, `cannot read ${parsed.data}: ${(e as NodeJS.ErrnoException).code}`);
  }
  let view: unknown;
  try {
    view = JSON.parse(text);
  } catch (e) {
    return fail(EXIT_DATA, `${parsed.data}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof view !== 'object' || view === null || Array.isArray(view))
    return fail(EXIT_DATA, `${parsed.data}: expected a JSON object, the view the template is given`);

  try {
    if (name.endsWith('.md')) out.write(templates.renderText(name, view));
    else out.write(`${JSON.stringify(templates.renderMessage(name, view), null, 2)}\n`);
  } catch (e) {
    if (!(e instanceof TemplateError)) throw e;
    return fail(EXIT_DATA, `${name} gives no valid message for this data: ${e.message}`);
  }
  return 0;
}

function parseArgs(args: string[]): { template: string; data: string } | string {
  const positional: string[] = [];
  let data: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--data') {
      data = args[++i];
      if (data === undefined) return '--data needs a file';
    } else if (arg.startsWith('--data=')) data = arg.slice('--data='.length);
    else if (arg.startsWith('-')) return `unknown option ${arg}`;
    else positional.push(arg);
  }
  if (positional.length !== 1) return 'expected one template name';
  if (!data) return 'expected --data <file.json>';
  return { template: positional[0]!, data };
}
