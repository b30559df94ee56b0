import { describe, expect, it } from 'vitest';
import { channelsUnsettled, channelTaken, dedicatedChannelName } from '../../src/incidents/channels.js';
import { lifecycleOnDatabase } from '../support/incidents.js';

// Slack's rule for channel names (conversations.create / conversations.rename).
const SLACK_CHANNEL_NAME = /^[a-z0-9_-]{1,80}$/;
const AT = new Date('2026-11-23T10:00:00Z');
const PREFIX = 'inc-20261123-';

describe('dedicatedChannelName', () => {
  it('is inc-YYYYMMDD-slug, lowercased, with spaces and punctuation as single hyphens', () => {
    expect(dedicatedChannelName('Payments API is DOWN!', AT)).toBe('inc-20261123-payments-api-is-down');
    expect(dedicatedChannelName('  5xx on /checkout -- (EU) ...  ', AT)).toBe(
      'inc-20261123-5xx-on-checkout-eu',
    );
    expect(dedicatedChannelName('db_primary: disk 95% full', AT)).toBe(
      'inc-20261123-db-primary-disk-95-full',
    );
  });

  it('takes the date in UTC', () => {
    expect(dedicatedChannelName('x', new Date('2026-11-23T23:30:00-05:00'))).toBe('inc-20261124-x');
    expect(dedicatedChannelName('x', new Date('2027-01-01T00:30:00+01:00'))).toBe('inc-20261231-x');
    expect(dedicatedChannelName('x', new Date('2026-03-05T00:00:00Z'))).toBe('inc-20260305-x');
  });

  it('drops emoji', () => {
    expect(dedicatedChannelName('🔥🔥 Checkout 🔥 down 💥', AT)).toBe('inc-20261123-checkout-down');
  });

  it('strips an accent from a letter that ends a word', () => {
    expect(dedicatedChannelName('Café', AT)).toBe('inc-20261123-cafe');
  });
  it('strips accents inside words instead of splitting the word', () => {
    expect(dedicatedChannelName('Crème brûlée à Zürich', AT)).toBe('inc-20261123-creme-brulee-a-zurich');
  });

  it('folds compatibility characters (ligatures, full-width letters)', () => {
    expect(dedicatedChannelName('ﬁle Ｓｅｒｖｅｒ', AT)).toBe('inc-20261123-file-server');
  });

  it('falls back to "incident" for a title with no letters or digits', () => {
    expect(dedicatedChannelName('!!! ??? 🔥', AT)).toBe('inc-20261123-incident');
    expect(dedicatedChannelName('', AT)).toBe('inc-20261123-incident');
    expect(dedicatedChannelName('---', AT, 3)).toBe('inc-20261123-incident-3');
  });

  it('adds no suffix on attempt 1, and -N from attempt 2', () => {
    expect(dedicatedChannelName('db down', AT)).toBe('inc-20261123-db-down');
    expect(dedicatedChannelName('db down', AT, 1)).toBe('inc-20261123-db-down');
    expect(dedicatedChannelName('db down', AT, 2)).toBe('inc-20261123-db-down-2');
    expect(dedicatedChannelName('db down', AT, 10)).toBe('inc-20261123-db-down-10');
  });

  it('cuts a long title to 80 characters, suffix included', () => {
    const title = 'a'.repeat(200);
    expect(dedicatedChannelName(title, AT)).toBe(PREFIX + 'a'.repeat(67));
    expect(dedicatedChannelName(title, AT, 2)).toBe(`${PREFIX}${'a'.repeat(65)}-2`);
    expect(dedicatedChannelName(title, AT, 123)).toBe(`${PREFIX}${'a'.repeat(63)}-123`);
    for (const attempt of [1, 2, 9, 10, 99, 100, 1000]) {
      expect(dedicatedChannelName(title, AT, attempt)).toHaveLength(80);
    }
  });

  it('never ends with a hyphen where the cut falls on a word break', () => {
    // 66 letters then a space: the 67-character slug would end with '-'.
    const title = `${'b'.repeat(66)} tail words here`;
    expect(dedicatedChannelName(title, AT)).toBe(PREFIX + 'b'.repeat(66));
    expect(dedicatedChannelName(title, AT, 2)).toBe(`${PREFIX}${'b'.repeat(65)}-2`);
    // With `-2` the slug may be 65 characters: the 65th is the space.
    const atSuffix = `${'c'.repeat(64)} ${'d'.repeat(20)}`;
    expect(dedicatedChannelName(atSuffix, AT, 2)).toBe(`${PREFIX}${'c'.repeat(64)}-2`);
  });

  it('gives names Slack accepts for many random titles and attempts', () => {
    // A fixed-seed generator, so a failure can be reproduced.
    let seed = 0x2f6b1d;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pieces = [
      ...'abcXYZ019 -_.,:;!?/\\()[]{}<>@#$%^&*+=~`\'"|\t\n',
      'é',
      'Ü',
      'ß',
      'ø',
      'İ',
      'ﬁ',
      'Ｗ',
      '🔥',
      '👩‍💻',
      '🇫🇷',
      '漢字',
      'кириллица',
      'العربية',
      '\u0301',
      '\u200b',
      '\u0000',
      '---',
      '   ',
    ];
    for (let i = 0; i < 2000; i++) {
      const length = Math.floor(random() * 150);
      let title = '';
      for (let j = 0; j < length; j++) title += pieces[Math.floor(random() * pieces.length)];
      const attempt = 1 + Math.floor(random() * 120);
      const createdAt = new Date(Date.UTC(2000, 0, 1) + Math.floor(random() * 40 * 365 * 86_400_000));
      const name = dedicatedChannelName(title, createdAt, attempt);
      const context = JSON.stringify({ title, attempt, createdAt, name });
      expect(name, context).toMatch(SLACK_CHANNEL_NAME);
      expect(name, context).toMatch(/^inc-\d{8}-[a-z0-9]/);
      expect(name.endsWith('-'), context).toBe(false);
      expect(name.includes('--'), context).toBe(false);
      expect(name.endsWith(attempt > 1 ? `-${attempt}` : ''), context).toBe(true);
    }
  });
});

/** What the workers' sweep finds still to do of a channel (real PostgreSQL). */
describe('channelsUnsettled', () => {
  const lifecycle = lifecycleOnDatabase();

  it('lists the open incidents whose channel is not made, or made with its invite or announcement to do', async () => {
    const { rows } = await lifecycle().pool.query<{ title: string; id: number }>(
      `INSERT INTO incidents (title, severity, declared_by, dedicated_channel, channel_id,
                              announcement_channel_id, announcement_ts, state, resolved_at, channel_settled_at)
       VALUES ('no channel', 'P1', 'U0ALICE', true, NULL, NULL, NULL, 'open', NULL, NULL),
              ('made, not settled', 'P1', 'U0ALICE', true, 'C0OWN1', 'C0ANNOUNCE', NULL, 'open', NULL, NULL),
              ('settled', 'P1', 'U0ALICE', true, 'C0OWN2', 'C0ANNOUNCE', '1.000100', 'open', NULL, now()),
              ('settled, announcement refused', 'P1', 'U0ALICE', true, 'C0OWN3', 'C0ANNOUNCE', NULL, 'open', NULL, now()),
              ('resolved first', 'P1', 'U0ALICE', true, NULL, NULL, NULL, 'resolved', now(), NULL),
              ('moved to the fallback', 'P1', 'U0ALICE', false, 'C0ANNOUNCE', 'C0ANNOUNCE', NULL, 'open', NULL, NULL)
       RETURNING title, id::int`,
    );
    const id = (title: string) => rows.find((r) => r.title === title)!.id;
    expect((await channelsUnsettled(lifecycle().pool)).sort((a, b) => a - b)).toEqual([
      id('no channel'),
      id('made, not settled'),
    ]);
  });
});

describe('channelTaken', () => {
  const lifecycle = lifecycleOnDatabase();

  it('is true for a channel an incident lives in, or left when Slack refused it, else false', async () => {
    await lifecycle().pool.query(
      `INSERT INTO incidents (title, severity, channel_id, refused_channel_id)
       VALUES ('lives there', 'P1', 'C0LIVES', NULL), ('moved out', 'P1', 'C0DEFAULT', 'C0REFUSED')`,
    );
    expect(await channelTaken(lifecycle().pool, 'C0LIVES')).toBe(true);
    expect(await channelTaken(lifecycle().pool, 'C0REFUSED')).toBe(true);
    expect(await channelTaken(lifecycle().pool, 'C0FREE')).toBe(false);
  });
});
