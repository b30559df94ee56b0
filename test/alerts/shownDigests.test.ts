import { describe, expect, it } from 'vitest';
import { ShownDigests } from '../../src/alerts/shownDigests.js';

describe('what each group’s open incident shows, as last read', () => {
  const heard = (maxGroups?: number) => {
    const shown = new ShownDigests(maxGroups);
    shown.heard();
    return shown;
  };

  it('knows the incident showing a digest once a read found it, and nothing of another digest', () => {
    const shown = heard();
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    shown.found(shown.readBegins(), 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBe(7);
    expect(shown.incidentShowing('g', 'b')).toBeUndefined();
    expect(shown.incidentShowing('h', 'a')).toBeUndefined();
  });

  it('remembers nothing until changes are heard, and forgets everything when they may no longer be', () => {
    const shown = new ShownDigests();
    shown.found(shown.readBegins(), 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    shown.heard();
    shown.found(shown.readBegins(), 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBe(7);
    shown.lost();
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    shown.found(shown.readBegins(), 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
  });

  it('forgets the groups told of, and every group when told null (a table emptied)', () => {
    const shown = heard();
    for (const g of ['g', 'h', 'i']) shown.found(shown.readBegins(), g, 'a', 7);
    shown.told(JSON.stringify(['g']));
    shown.forget('h');
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    expect(shown.incidentShowing('h', 'a')).toBeUndefined();
    expect(shown.incidentShowing('i', 'a')).toBe(7);
    shown.told('null');
    expect(shown.incidentShowing('i', 'a')).toBeUndefined();
  });

  it('does not remember what a read found if a change of its group was heard while it ran: it may be of before it', () => {
    const shown = heard();
    const since = shown.readBegins();
    shown.told(JSON.stringify(['g']));
    shown.found(since, 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    // Another group's change, or what this process stored itself, refuses nothing.
    const next = shown.readBegins();
    shown.told(JSON.stringify(['other']));
    shown.forget('h');
    shown.found(next, 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBe(7);
  });

  it('does not remember a read begun before changes were heard: a change may have gone unheard meanwhile', () => {
    const shown = new ShownDigests();
    const early = shown.readBegins();
    shown.heard();
    shown.found(early, 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    // Heard again while heard, nothing was missed.
    const later = shown.readBegins();
    shown.heard();
    shown.found(later, 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBe(7);
  });

  it('refuses every read begun before changes of more groups than it holds, and keeps what it remembers', () => {
    const shown = heard(2);
    shown.found(shown.readBegins(), 'kept', 'a', 1);
    const since = shown.readBegins();
    shown.told(JSON.stringify(['a', 'b', 'c']));
    shown.found(since, 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBeUndefined();
    expect(shown.incidentShowing('kept', 'a')).toBe(1);
    shown.found(shown.readBegins(), 'g', 'a', 7);
    expect(shown.incidentShowing('g', 'a')).toBe(7);
  });

  it('forgets the group found longest ago once it holds its most, and never holds a key over 1 KiB', () => {
    const shown = heard(2);
    shown.found(shown.readBegins(), 'old', 'a', 1);
    shown.found(shown.readBegins(), 'kept', 'a', 2);
    // Found again: no longer the oldest.
    shown.found(shown.readBegins(), 'old', 'a', 1);
    shown.found(shown.readBegins(), 'new', 'a', 3);
    expect(shown.incidentShowing('kept', 'a')).toBeUndefined();
    expect(shown.incidentShowing('old', 'a')).toBe(1);
    expect(shown.incidentShowing('new', 'a')).toBe(3);
    shown.found(shown.readBegins(), 'g'.repeat(1025), 'a', 4);
    expect(shown.incidentShowing('g'.repeat(1025), 'a')).toBeUndefined();
    shown.found(shown.readBegins(), 'g'.repeat(1024), 'a', 5);
    expect(shown.incidentShowing('g'.repeat(1024), 'a')).toBe(5);
  });
});
