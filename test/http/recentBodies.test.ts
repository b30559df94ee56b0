import { describe, expect, it } from 'vitest';
import { RecentBodies } from '../../src/http/recentBodies.js';

const read = (groupKey: string) => ({ groupKey, digest: `digest of ${groupKey}` });
const key = (text: string) => RecentBodies.keyOf(Buffer.from(text));

describe('the notification bodies read lately', () => {
  it('knows a body by its bytes, and only those bytes', () => {
    const recent = new RecentBodies();
    recent.remember(key('{"a":1}'), read('g'));
    expect(recent.get(key('{"a":1}'))).toEqual(read('g'));
    expect(recent.get(key('{"a": 1}'))).toBeUndefined();
  });

  it('forgets the body read longest ago once it holds its most, a body known again counting as read', () => {
    const recent = new RecentBodies(2);
    recent.remember(key('old'), read('old'));
    recent.remember(key('kept'), read('kept'));
    expect(recent.get(key('old'))).toEqual(read('old'));
    recent.remember(key('new'), read('new'));
    expect(recent.get(key('kept'))).toBeUndefined();
    expect(recent.get(key('old'))).toEqual(read('old'));
    expect(recent.get(key('new'))).toEqual(read('new'));
  });

  it('does not remember a body of a group key over 1 KiB, as the last accepted deliveries do not', () => {
    const recent = new RecentBodies();
    recent.remember(key('long'), read('g'.repeat(1025)));
    expect(recent.get(key('long'))).toBeUndefined();
  });
});
