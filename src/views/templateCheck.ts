import { TemplateError, TemplateSet } from '../render/templates.js';
import { worstCaseViews } from './samples.js';

/**
 * Loads every template (built-in or override) and renders the largest views the bot can produce through
 * each, so a broken override is found before the first real incident needs it. Every problem is
 * returned, one line each; a template that does not compile is not rendered, to say each fault once.
 */
export async function checkTemplates(
  templatesDir: string | undefined,
  maxAlertsShown: number,
): Promise<{ templates: TemplateSet; problems: string[] }> {
  const { templates, problems } = await TemplateSet.inspect(templatesDir);
  const compiled = new Set(templates.names());
  for (const [name, view] of Object.entries(worstCaseViews(maxAlertsShown))) {
    if (!compiled.has(name)) continue;
    try {
      if (name.endsWith('.md')) templates.renderText(name, view);
      else templates.renderMessage(name, view);
    } catch (err) {
      problems.push(err instanceof TemplateError ? err.message : `${name}: ${(err as Error).message}`);
    }
  }
  return { templates, problems };
}
