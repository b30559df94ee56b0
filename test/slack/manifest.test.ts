import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { type ListenerDeps, type Listeners, registerListeners } from '../../src/listeners/index.js';
import { type RunningEmulator, startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import { resolveModal } from '../../src/views/modals.js';

/**
 * manifest.yml against the code: the slash commands, interactivity and events the listeners register,
 * and the bot scopes the Web API calls of SlackApi need, each both ways, so that neither a listener
 * nor a call can be added without the manifest, nor a scope kept that nothing needs.
 */

const MANIFEST_PATH = new URL('../../manifest.yml', import.meta.url);

/**
 * The bot-token scopes each Web API method needs, from the "Required scopes" of its page in Slack's
 * method reference (docs.slack.dev/reference/methods/<method>). Any one scope of a list will do: the
 * conversations methods accept one per kind of conversation, and the bot only makes public channels.
 * An empty list: Slack requires no scope.
 */
const WEB_API_SCOPES: Readonly<Record<string, readonly string[]>> = {
  'auth.test': [],
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'views.open': [],
  'conversations.create': ['channels:manage'],
  // channels:write.invites would do as well, but conversations.create needs channels:manage anyway.
  'conversations.invite': ['channels:manage', 'channels:write.invites'],
  'files.getUploadURLExternal': ['files:write'],
  'files.completeUploadExternal': ['files:write'],
  'usergroups.list': ['usergroups:read'],
  'usergroups.users.list': ['usergroups:read'],
  // doctor: is the bot in the channels it posts to? Private channels would need groups:read as well.
  'conversations.info': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  // A channel of its own whose making's answer was lost.
  'users.conversations': ['channels:read', 'groups:read', 'im:read', 'mpim:read'],
  // Post-mortems name people.
  'users.info': ['users:read'],
};

/**
 * Methods the bot calls on the channels it posts in, which routes may name public or private: they need
 * their scope for both kinds. conversations.history and conversations.replies look for a post whose
 * answer was lost (src/slack/postOnce.ts).
 */
const BOTH_KINDS_SCOPES: Readonly<Record<string, readonly string[]>> = {
  'conversations.history': ['channels:history', 'groups:history'],
  'conversations.replies': ['channels:history', 'groups:history'],
};

// Bolt makes no call of its own with the bot token. (In Socket Mode the client calls apps.connections.open,
// with the app-level token and its connections:write: no bot scope.)

// The parts of Slack's manifest schema this app uses, with the limits Slack's reference gives; strict,
// so a misspelt key fails here rather than being dropped by Slack.
const SlashCommand = z.strictObject({
  command: z.string().regex(/^\/[a-z0-9_-]{1,31}$/),
  url: z.url({ protocol: /^https$/ }),
  description: z.string().min(1).max(2000),
  usage_hint: z.string().max(1000).optional(),
  should_escape: z.boolean(),
});
const ManifestSchema = z.strictObject({
  _metadata: z.strictObject({ major_version: z.literal(1), minor_version: z.number().int() }).optional(),
  display_information: z.strictObject({
    name: z.string().min(1).max(35),
    description: z.string().max(140),
    long_description: z.string().min(175).max(4000).optional(),
    background_color: z.string().regex(/^#(?:[0-9a-fA-F]{3}){1,2}$/),
  }),
  features: z.strictObject({
    bot_user: z.strictObject({ display_name: z.string().min(1).max(80), always_online: z.boolean() }),
    slash_commands: z.array(SlashCommand),
  }),
  oauth_config: z.strictObject({
    scopes: z.strictObject({ bot: z.array(z.string().regex(/^[a-z_]+(?::[a-z_.]+)?$/)) }),
  }),
  settings: z.strictObject({
    event_subscriptions: z
      .strictObject({ request_url: z.url({ protocol: /^https$/ }), bot_events: z.array(z.string()) })
      .optional(),
    interactivity: z.strictObject({ is_enabled: z.boolean(), request_url: z.url({ protocol: /^https$/ }) }),
    org_deploy_enabled: z.boolean(),
    socket_mode_enabled: z.boolean(),
    token_rotation_enabled: z.boolean(),
  }),
});
type Manifest = z.infer<typeof ManifestSchema>;

interface Registration {
  kind: string;
  id: string;
}

/**
 * Runs the real register functions against a stand-in for the listener router that records each one:
 * `listeners.command('/incident', …)` becomes { kind: 'command', id: '/incident' }, whatever the method.
 */
function registeredListeners(): Registration[] {
  const registered: Registration[] = [];
  const recorder = new Proxy(
    {},
    {
      get:
        (_target, kind) =>
        (id: unknown): void => {
          registered.push({
            kind: String(kind),
            id: typeof id === 'string' || id instanceof RegExp ? String(id) : JSON.stringify(id),
          });
        },
    },
  ) as Listeners;
  // Registration reads only the logger; the handlers, which use the rest, never run here.
  const deps = { logger: {} };
  registerListeners(recorder, deps as unknown as ListenerDeps);
  return registered;
}

const idsOf = (registered: Registration[], kind: string) =>
  registered.filter((r) => r.kind === kind).map((r) => r.id);

/** Methods none of whose scopes the manifest grants (methods needing none are always covered). */
function uncoveredMethods(methods: string[], scopes: string[]): string[] {
  return methods.filter((m) => {
    const every = BOTH_KINDS_SCOPES[m];
    if (every) return !every.every((s) => scopes.includes(s));
    const needs = WEB_API_SCOPES[m];
    return needs === undefined || (needs.length > 0 && !needs.some((s) => scopes.includes(s)));
  });
}

let manifest: Manifest;
let registered: Registration[];
beforeAll(async () => {
  manifest = ManifestSchema.parse(parse(await readFile(MANIFEST_PATH, 'utf8')));
  registered = registeredListeners();
});

describe('manifest.yml', () => {
  it('uses Slack HTTP delivery by default: Socket Mode, org-wide install and token rotation are off', () => {
    expect(manifest.settings).toMatchObject({
      socket_mode_enabled: false,
      org_deploy_enabled: false,
      token_rotation_enabled: false,
    });
  });

  it('sends every slash command, interaction and event to the one /slack/events endpoint', () => {
    const urls = [
      ...manifest.features.slash_commands.map((c) => c.url),
      manifest.settings.interactivity.request_url,
      ...(manifest.settings.event_subscriptions ? [manifest.settings.event_subscriptions.request_url] : []),
    ];
    expect(new Set(urls)).toEqual(new Set(['https://incident-bot.example.com/slack/events']));
  });
});

describe('manifest.yml against the listeners the code registers', () => {
  it('knows every kind of listener registered: commands, actions, views and events', () => {
    expect(registered.length).toBeGreaterThan(0);
    // Shortcuts or options loads would need their own manifest entries, and checks here.
    expect(registered.filter((r) => !['command', 'action', 'view', 'event'].includes(r.kind))).toEqual([]);
  });

  it('declares every registered slash command, and registers every declared one', () => {
    const declared = manifest.features.slash_commands.map((c) => c.command).sort();
    expect(declared).toEqual(idsOf(registered, 'command').sort());
  });

  it('subscribes to exactly the events the code listens to', () => {
    const subscribed = manifest.settings.event_subscriptions?.bot_events ?? [];
    expect([...subscribed].sort()).toEqual(idsOf(registered, 'event').sort());
  });

  it('enables interactivity because buttons and forms are listened to', () => {
    const interactive = idsOf(registered, 'action').length + idsOf(registered, 'view').length;
    expect(interactive).toBeGreaterThan(0);
    expect(manifest.settings.interactivity.is_enabled).toBe(interactive > 0);
  });

  it('registers each action id and view callback id once', () => {
    for (const kind of ['action', 'view']) {
      const ids = idsOf(registered, kind);
      expect(ids, kind).toEqual([...new Set(ids)]);
    }
  });

  it('asks for the commands scope because it declares slash commands', () => {
    expect(manifest.features.slash_commands.length).toBeGreaterThan(0);
    expect(manifest.oauth_config.scopes.bot).toContain('commands');
  });
});

describe('manifest.yml scopes against the Web API calls of SlackApi', () => {
  const TOKEN = 'xoxb-manifest-test-token';
  let slack: RunningEmulator;
  let called: string[];

  /** One call of each SlackApi method, made against the emulator so every Web API request is seen. */
  const drivers: Record<string, (api: SlackApi) => Promise<unknown>> = {
    postMessage: (api) => api.postMessage({ channel: 'C0SCOPES', text: 'hello', blocks: [] }),
    update: async (api) => {
      const posted = await api.postMessage({ channel: 'C0SCOPES', text: 'hello', blocks: [] });
      await api.update({ ...posted, text: 'edited', blocks: [] });
    },
    postEphemeral: (api) => api.postEphemeral({ channel: 'C0SCOPES', user: 'U0ALICE', text: 'psst' }),
    openView: (api) => api.openView('1.2.trigger', resolveModal({ id: 1, ref: 'INC-1' })),
    createChannel: (api) => api.createChannel('inc-scopes'),
    invite: async (api) => {
      const channel = await api.createChannel('inc-invite');
      await api.invite(channel.id, ['U0ALICE']);
    },
    stageFile: (api) => api.stageFile({ filename: 'pm.md', content: '# PM' }),
    shareFile: async (api) =>
      api.shareFile({
        fileId: await api.stageFile({ filename: 'pm.md', content: '# PM' }),
        title: 'Post-mortem',
        channel: 'C0SCOPES',
      }),
    userGroups: (api) => api.userGroups(),
    userGroupMembers: (api) => api.userGroupMembers('S0ONCALL'),
    identity: (api) => api.identity(),
    userName: (api) => api.userName('U0ALICE'),
    channel: async (api) => api.channel((await api.createChannel('inc-info')).id),
    ownChannelsNamed: async (api) => {
      const made = await api.createChannel('inc-own');
      expect(await api.ownChannelsNamed(new Set(['inc-own', 'inc-none']))).toEqual(
        new Map([['inc-own', made.id]]),
      );
    },
    history: (api) => api.history({ channel: 'C0SCOPES', oldest: '0', limit: 10 }),
    replies: async (api) => {
      const posted = await api.postMessage({ channel: 'C0SCOPES', text: 'hello', blocks: [] });
      await api.replies({ channel: 'C0SCOPES', threadTs: posted.ts, oldest: '0', limit: 10 });
    },
  };

  beforeAll(async () => {
    slack = await startSlackEmulator({ token: TOKEN });
    slack.emulator.addUserGroup('S0ONCALL', 'oncall', ['U0ALICE']);
    const api = new SlackApi(TOKEN, slack.apiUrl);
    for (const drive of Object.values(drivers)) await drive(api);
    called = [...new Set(slack.emulator.calls.map((c) => c.method))].sort();
  });
  afterAll(async () => {
    await slack?.close();
  });

  it('drives every method of SlackApi, so a new one cannot slip past this test', () => {
    const methods = Object.getOwnPropertyNames(SlackApi.prototype).filter(
      (name) => name !== 'constructor' && name !== 'call',
    );
    expect(methods.sort()).toEqual(Object.keys(drivers).sort());
    expect(slack.emulator.calls.filter((c) => !c.ok)).toEqual([]);
  });

  it('knows the scopes of every Web API method the bot calls', () => {
    const known = { ...WEB_API_SCOPES, ...BOTH_KINDS_SCOPES };
    expect(called.filter((m) => !(m in known))).toEqual([]);
    // And lists no method the bot does not call, so the tables stay the bot's own.
    expect(Object.keys(known).filter((m) => !called.includes(m))).toEqual([]);
  });

  it('grants a scope for every Web API method the bot calls', () => {
    expect(uncoveredMethods(called, manifest.oauth_config.scopes.bot)).toEqual([]);
  });

  it('grants no scope that no call needs: without any one of them, some call fails', () => {
    const scopes = manifest.oauth_config.scopes.bot;
    for (const scope of scopes.filter((s) => s !== 'commands')) {
      const without = scopes.filter((s) => s !== scope);
      expect(uncoveredMethods(called, without), `${scope} is needed by no call`).not.toEqual([]);
    }
  });

  it('would report a call the table does not know, or whose scope the manifest lacks', () => {
    expect(uncoveredMethods(['users.list', 'chat.postMessage'], ['chat:write'])).toEqual(['users.list']);
    expect(uncoveredMethods(['usergroups.list', 'views.open'], ['chat:write'])).toEqual(['usergroups.list']);
    expect(uncoveredMethods(['conversations.history'], ['channels:history'])).toEqual([
      'conversations.history',
    ]);
  });
});
