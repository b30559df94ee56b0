import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/** manifest.yml, the Slack app this bot is: shipped with the code (and in the image), found from anywhere. */
const MANIFEST_PATH = fileURLToPath(new URL('../../manifest.yml', import.meta.url));

/** The parts of the manifest the bot reads at run time. */
export interface AppManifest {
  /** Each slash command, with its should_escape: mentions then arrive as <@U…|name> and <#C…|name>. */
  commands: ReadonlyMap<string, { shouldEscape: boolean }>;
  /** The bot token's scopes the app asks for. */
  botScopes: readonly string[];
}

export async function readManifest(): Promise<AppManifest> {
  const manifest = parse(await readFile(MANIFEST_PATH, 'utf8')) as {
    features?: { slash_commands?: Array<{ command: string; should_escape?: boolean }> };
    oauth_config?: { scopes?: { bot?: string[] } };
  };
  return {
    commands: new Map(
      (manifest.features?.slash_commands ?? []).map((c) => [
        c.command,
        { shouldEscape: c.should_escape === true },
      ]),
    ),
    botScopes: manifest.oauth_config?.scopes?.bot ?? [],
  };
}
