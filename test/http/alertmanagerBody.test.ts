import { describe, expect, it, vi } from 'vitest';
import { AlertmanagerBodyScanner, type BodyLimits, parseWholeBody } from '../../src/http/alertmanagerBody.js';
import { HttpError } from '../../src/http/respond.js';
import { type AlertSpec, payload as alertmanagerPayload } from '../support/alertmanager.js';

const LIMITS: BodyLimits = {
  maxBytes: 64 * 1024,
  keptAlerts: 3,
  keptAlertBytes: 16 * 1024,
  drainBytes: 256 * 1024,
};

/**
 * Feeds `text` to a scanner in chunks of `size` bytes, as a socket would deliver it. A body within the
 * limit is also held whole and parsed at once, which must come to the same.
 */
function scan(text: string, size = 7, limits = LIMITS) {
  const bytes = Buffer.from(text);
  const scanned = outcome(() => {
    const scanner = new AlertmanagerBodyScanner(limits);
    for (let i = 0; i < bytes.length; i += size) if (!scanner.write(bytes.subarray(i, i + size))) break;
    return scanner.end();
  });
  if (bytes.length <= limits.maxBytes) expect(outcome(() => parseWholeBody(bytes, limits))).toEqual(scanned);
  if ('thrown' in scanned) throw scanned.thrown;
  return scanned.body;
}

function outcome<T>(read: () => T): { body: T } | { thrown: unknown } {
  try {
    return { body: read() };
  } catch (thrown) {
    return { thrown };
  }
}

/** A notification of group G with these alerts, each on an instance of its own unless it says. */
const payload = ({ group = 'G', alerts }: { group?: string; alerts: Array<Partial<AlertSpec>> }) =>
  alertmanagerPayload({ group, alerts: alerts.map((a, i) => ({ instance: `host-${i}`, ...a })) });

const refusal = (text: string) => {
  try {
    scan(text);
  } catch (err) {
    return err instanceof HttpError ? `${err.status} ${err.message}` : String(err);
  }
  return 'accepted';
};

describe('reading a notification as it arrives', () => {
  it('gives back what JSON.parse would, for any chunking, when every alert is kept', () => {
    const body = JSON.stringify(
      payload({ alerts: [{ annotations: { summary: 'a "quoted" \\ [tricky], {value}' } }, {}] }),
    );
    for (const size of [1, 2, 3, 5, 64, body.length])
      expect(scan(body, size)).toEqual({
        tooLarge: false,
        json: JSON.parse(body),
        truncatedAlerts: 0,
        bytes: body.length,
      });
  });

  it('keeps the first alerts in full and counts the rest', () => {
    const sent = payload({ alerts: Array.from({ length: 10 }, (_, i) => ({ instance: `i${i}` })) });
    const body = scan(JSON.stringify(sent, null, 2));
    expect(body).toMatchObject({ tooLarge: false, truncatedAlerts: 7 });
    expect(body.tooLarge || body.json).toEqual({ ...sent, alerts: sent.alerts.slice(0, 3) });
  });

  it('stops keeping alerts in full once they pass the byte budget', () => {
    const sent = payload({ alerts: [{ annotations: { description: 'x'.repeat(20_000) } }, {}] });
    const body = scan(JSON.stringify(sent));
    expect(body).toMatchObject({ truncatedAlerts: 1 });
    expect(body.tooLarge || (body.json as { alerts: unknown[] }).alerts).toHaveLength(1);
  });

  it('keeps the first alert whatever its size, and then only those before the first that does not fit', () => {
    const big = { annotations: { description: 'x'.repeat(20_000) } };
    const first = scan(JSON.stringify(payload({ alerts: [big, {}, {}] })));
    expect(first).toMatchObject({ truncatedAlerts: 2 });
    expect(first.tooLarge || (first.json as { alerts: unknown[] }).alerts).toHaveLength(1);
    const second = scan(JSON.stringify(payload({ alerts: [{}, big, {}] })));
    expect(second).toMatchObject({ truncatedAlerts: 2 });
    expect(second.tooLarge || (second.json as { alerts: unknown[] }).alerts).toHaveLength(1);
  });

  it('refuses a second alerts key rather than merge or drop either', () => {
    expect(refusal('{"alerts": [{}], "alerts": [{}]}')).toBe('400 alerts: given twice');
    expect(refusal('{"alerts": 5, "alerts": [{}]}')).toBe('400 alerts: given twice');
    expect(refusal('{"alerts": [{}], "\\u0061lerts": [{}]}')).toBe('400 alerts: given twice');
    expect(refusal('{"alerts": [{}], "a\\u006Cert\\u0073": [{}]}')).toBe('400 alerts: given twice');
  });

  it('parses a small body held whole with one JSON.parse, not one per alert', () => {
    const body = Buffer.from(JSON.stringify(payload({ alerts: [{}, {}] })));
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(parseWholeBody(body, LIMITS)).toMatchObject({ tooLarge: false, truncatedAlerts: 0 });
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });

  it('takes alerts written before groupKey, as Alertmanager writes them', () => {
    const { alerts, ...rest } = payload({ alerts: [{}] });
    const body = scan(JSON.stringify({ alerts, ...rest }));
    expect(body.tooLarge || body.json).toEqual({ alerts, ...rest });
  });

  it('checks the alerts it does not keep as strictly as the rest', () => {
    const sent = payload({ alerts: Array.from({ length: 5 }, () => ({})) });
    (sent.alerts[4] as Record<string, unknown>).startsAt = 'yesterday';
    expect(refusal(JSON.stringify(sent))).toBe('400 alerts[4].startsAt: expected an RFC 3339 timestamp');
    delete (sent.alerts[4] as Record<string, unknown>).fingerprint;
    expect(refusal(JSON.stringify(sent))).toMatch(/^400 alerts\[4\]\.(startsAt|fingerprint): /);
    (sent.alerts[4] as Record<string, unknown>).startsAt = sent.alerts[0]!.startsAt;
    expect(refusal(JSON.stringify(sent))).toBe('400 alerts[4].fingerprint: required');
  });

  it.each([
    ['{"alerts": [{}, {]}', /^400 (body|alerts\[1\]): not valid JSON/],
    ['{"alerts": [{},, {}]}', /^400 body: not valid JSON \(an empty alert\)/],
    ['{"alerts": [, {}]}', /^400 body: not valid JSON \(an empty alert\)/],
    ['{"alerts": [{}, ]}', /^400 body: not valid JSON \(an empty alert\)/],
    ['{"alerts": [{}], "groupKey": }', /^400 body: not valid JSON/],
    ['{"alerts": [{}]', /^400 body: not valid JSON/],
    ['', /^400 body: not valid JSON/],
  ])('refuses %j as not JSON, as JSON.parse would', (text, expected) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(refusal(text)).toMatch(expected);
  });

  it('leaves a body that is no object, or alerts that are no array, for validation to refuse', () => {
    for (const json of [
      null,
      [1, 2],
      'text',
      { alerts: { a: [1] } },
      { alerts: 5 },
      { alerts: [] },
      { alerts: [[]] },
    ])
      expect(scan(JSON.stringify(json))).toMatchObject({ tooLarge: false, json, truncatedAlerts: 0 });
  });

  it('past the limit keeps nothing, reads on to learn the group, and says how large it was', () => {
    const sent = payload({
      group: 'a "big" one',
      alerts: Array.from({ length: 40 }, () => ({ annotations: { description: 'x'.repeat(2000) } })),
    });
    const { alerts, ...rest } = sent;
    const text = JSON.stringify({ alerts, ...rest });
    expect(scan(text)).toEqual({
      tooLarge: true,
      bytes: text.length,
      readToEnd: true,
      groupKey: sent.groupKey,
    });
    // What is read past the limit is only scanned for the group: a fault in it does not turn 413 into 400.
    const faulty = text.slice(0, 70_000) + text.slice(70_000).replace('},{', '},,{');
    expect(faulty).not.toBe(text);
    expect(scan(faulty)).toMatchObject({
      tooLarge: true,
      groupKey: sent.groupKey,
    });
    const drained = scan(text, 1024, { ...LIMITS, drainBytes: 70 * 1024 });
    expect(drained).toMatchObject({ tooLarge: true, readToEnd: false });
    expect(drained).not.toHaveProperty('groupKey');
  });
});
