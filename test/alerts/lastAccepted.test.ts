import { describe, expect, it } from 'vitest';
import { LastAccepted } from '../../src/alerts/lastAccepted.js';

describe('the last delivery accepted for each group', () => {
  it('takes a digest other than the last accepted for news, and an unknown group’s for a possible repeat', () => {
    const last = new LastAccepted();
    expect(last.mayBeShown('g', 'a')).toBe(true);
    last.accepted('g', 'a');
    expect(last.mayBeShown('g', 'a')).toBe(true);
    expect(last.mayBeShown('g', 'b')).toBe(false);
    last.accepted('g', 'b');
    expect(last.mayBeShown('g', 'a')).toBe(false);
    expect(last.mayBeShown('g', 'b')).toBe(true);
  });

  it('forgets the group accepted longest ago once it holds its most', () => {
    const last = new LastAccepted(2);
    last.accepted('old', 'a');
    last.accepted('kept', 'a');
    // Accepted again: no longer the oldest.
    last.accepted('old', 'b');
    last.accepted('new', 'a');
    expect(last.mayBeShown('kept', 'x')).toBe(true);
    expect(last.mayBeShown('old', 'x')).toBe(false);
    expect(last.mayBeShown('new', 'x')).toBe(false);
  });

  it('does not remember a group key over 1 KiB: its deliveries are always read', () => {
    const last = new LastAccepted();
    const long = 'g'.repeat(1025);
    last.accepted(long, 'a');
    expect(last.mayBeShown(long, 'b')).toBe(true);
    last.accepted('g'.repeat(1024), 'a');
    expect(last.mayBeShown('g'.repeat(1024), 'b')).toBe(false);
  });
});
