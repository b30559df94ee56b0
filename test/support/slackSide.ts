import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { TemplateSet } from '../../src/render/templates.js';
import { type RunningEmulator, startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import { clearRedisPrefix, redisUrl, uniquePrefix } from './services.js';

export interface SlackSide {
  /** The emulated Slack, to read what was posted. */
  emulator: RunningEmulator;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
}

/**
 * What a projection onto Slack needs, for a suite: the emulated Slack and the bot's client to it, a rate
 * limiter on real Redis under a prefix of its own, and the built-in templates. Made before the suite's
 * tests, closed after them.
 */
export function slackSide(token: string): () => SlackSide {
  let redis: Redis | undefined;
  let prefix: string | undefined;
  let side: SlackSide | undefined;
  beforeAll(async () => {
    redis = new Redis(redisUrl());
    prefix = uniquePrefix();
    const emulator = await startSlackEmulator({ token });
    side = {
      emulator,
      slack: new SlackApi(token, emulator.apiUrl),
      limiter: new SlackRateLimiter(redis, prefix),
      templates: await TemplateSet.load(),
    };
  });
  afterAll(async () => {
    await side?.emulator.close();
    if (prefix) await clearRedisPrefix(prefix);
    await redis?.quit();
  });
  return () => {
    if (!side) throw new Error('the Slack side is made in beforeAll: use it inside a test');
    return side;
  };
}
