import { describe, expect, it } from 'vitest';
import { KeptRead, KeptReadsByKey } from '../../src/db/keptRead.js';

/** A read that finishes when the test says, counting how many were made. */
function reads() {
  let made = 0;
  const pending: Array<(value: string) => void> = [];
  const failing: Array<(err: Error) => void> = [];
  return {
    load: () => {
      made += 1;
      return new Promise<string>((resolve, reject) => {
        pending.push(resolve);
        failing.push(reject);
      });
    },
    made: () => made,
    finish: (value: string) => {
      failing.shift();
      pending.shift()!(value);
    },
    fail: () => {
      pending.shift();
      failing.shift()!(new Error('the database is down'));
    },
  };
}

const kept = () => new KeptRead<string>('test_channel', 'answered from memory', 'read every time');

describe('a read kept until PostgreSQL tells of a change', () => {
  it('keeps nothing until changes are heard: every read goes to the database', async () => {
    const list = kept();
    const db = reads();
    const first = list.read(db.load);
    db.finish('a');
    await expect(first).resolves.toBe('a');
    const second = list.read(db.load);
    expect(db.made()).toBe(2);
    db.finish('b');
    await expect(second).resolves.toBe('b');
  });

  it('answers from memory once heard, until told of a change', async () => {
    const list = kept();
    list.heard();
    const db = reads();
    const first = list.read(db.load);
    db.finish('a');
    await first;
    const again = [list.read(db.load), list.read(db.load)];
    expect(db.made()).toBe(1);
    expect(await Promise.all(again)).toEqual(['a', 'a']);
    list.told();
    const after = list.read(db.load);
    expect(db.made()).toBe(2);
    db.finish('b');
    await expect(after).resolves.toBe('b');
    await expect(list.read(db.load)).resolves.toBe('b');
  });

  it('gives a read begun before a change to whoever asked, but does not keep it', async () => {
    const list = kept();
    list.heard();
    const db = reads();
    const before = list.read(db.load);
    list.told();
    db.finish('of before the change');
    await expect(before).resolves.toBe('of before the change');
    const after = list.read(db.load);
    expect(db.made()).toBe(2);
    db.finish('of after it');
    await expect(after).resolves.toBe('of after it');
  });

  it('keeps no read begun before changes were heard, nor any while they may not be', async () => {
    const list = kept();
    const db = reads();
    const unheard = list.read(db.load);
    list.heard();
    db.finish('a');
    await unheard;
    const heard = list.read(db.load);
    db.finish('b');
    await heard;
    expect(db.made()).toBe(2);
    await expect(list.read(db.load)).resolves.toBe('b');
    list.lost();
    for (const value of ['c', 'd']) {
      const read = list.read(db.load);
      db.finish(value);
      await expect(read).resolves.toBe(value);
    }
    expect(db.made()).toBe(4);
  });

  it('shares a read on its way with those who ask meanwhile, but not across a change', async () => {
    const list = kept();
    list.heard();
    const db = reads();
    const one = list.read(db.load);
    const two = list.read(db.load);
    expect(db.made()).toBe(1);
    list.told();
    const three = list.read(db.load);
    expect(db.made()).toBe(2);
    db.finish('before');
    db.finish('after');
    expect(await Promise.all([one, two, three])).toEqual(['before', 'before', 'after']);
  });

  it('keeps no failed read: the next asks the database again', async () => {
    const list = kept();
    list.heard();
    const db = reads();
    const failed = list.read(db.load);
    db.fail();
    await expect(failed).rejects.toThrow('the database is down');
    const next = list.read(db.load);
    expect(db.made()).toBe(2);
    db.finish('a');
    await expect(next).resolves.toBe('a');
  });
});

describe('reads kept by key (an incident each), each forgotten when its key is told of', () => {
  const byKey = (maxKeys = 10) => {
    const kept = new KeptReadsByKey<string>(
      'test_channel',
      'answered from memory',
      'read every time',
      maxKeys,
    );
    kept.heard();
    return kept;
  };
  /** Reads `key` now, and says whether it went to the database. */
  const readOf = async (kept: KeptReadsByKey<string>, key: string, value = `${key}'s`) => {
    let made = false;
    const read = await kept.read(key, async () => {
      made = true;
      return value;
    });
    return { read, made };
  };

  it('forgets only the key a change names, and every key on an empty one', async () => {
    const kept = byKey();
    await readOf(kept, '1');
    await readOf(kept, '2');
    kept.told('1');
    expect(await readOf(kept, '1')).toEqual({ read: "1's", made: true });
    expect(await readOf(kept, '2')).toEqual({ read: "2's", made: false });
    kept.told('');
    expect((await readOf(kept, '1')).made).toBe(true);
    expect((await readOf(kept, '2')).made).toBe(true);
  });

  it('keeps a read begun before another key changed, and shares reads of a key only, not across keys', async () => {
    const kept = byKey();
    const db = reads();
    const one = kept.read('1', db.load);
    const again = kept.read('1', db.load);
    const two = kept.read('2', db.load);
    expect(db.made()).toBe(2);
    kept.told('2');
    db.finish('of 1');
    db.finish('of 2, before its change');
    expect(await Promise.all([one, again, two])).toEqual(['of 1', 'of 1', 'of 2, before its change']);
    expect(await readOf(kept, '1')).toEqual({ read: 'of 1', made: false });
    expect(await readOf(kept, '2', 'of 2, after it')).toEqual({ read: 'of 2, after it', made: true });
  });

  it('keeps at most its number of keys, forgetting the one asked for longest ago', async () => {
    const kept = byKey(2);
    await readOf(kept, '1');
    await readOf(kept, '2');
    // Asked for again, from memory: no longer the one asked for longest ago.
    expect((await readOf(kept, '1')).made).toBe(false);
    await readOf(kept, '3');
    expect((await readOf(kept, '1')).made).toBe(false);
    expect((await readOf(kept, '3')).made).toBe(false);
    expect((await readOf(kept, '2')).made).toBe(true);
  });
});
