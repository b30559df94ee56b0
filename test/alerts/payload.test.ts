import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MAX_ANNOTATION_LENGTH,
  parseWebhookPayload,
  safeParseWebhookPayload,
  WebhookPayloadSchema,
} from '../../src/alerts/payload.js';
import { routeChannel } from '../../src/alerts/routing.js';
import { parseFileConfig } from '../../src/config/file.js';
import { payload } from '../support/alertmanager.js';

/** The payload as the webhook reads it: JSON text, where `__proto__` is an ordinary key. */
const parsedFrom = (body: object, labelsJson: string) =>
  WebhookPayloadSchema.parse(
    JSON.parse(JSON.stringify(body).replace('"commonLabels":{', `"commonLabels":{${labelsJson},`)),
  );

describe('WebhookPayloadSchema: label names are data', () => {
  const body = payload({ group: 'Names', alerts: [{ instance: 'pod-1' }] });

  it('keeps labels named __proto__ and constructor as ordinary labels, on records without a prototype', () => {
    const parsed = parsedFrom(body, '"__proto__":"x","constructor":"y"');
    const labels = parsed.commonLabels;
    expect(Object.getPrototypeOf(labels)).toBeNull();
    expect(Object.entries(labels)).toEqual(
      expect.arrayContaining([
        ['__proto__', 'x'],
        ['constructor', 'y'],
      ]),
    );
    expect(JSON.parse(JSON.stringify(labels))).toHaveProperty('__proto__', 'x');
    for (const record of [parsed.groupLabels, parsed.commonAnnotations, parsed.alerts[0]!.labels]) {
      expect(Object.getPrototypeOf(record)).toBeNull();
      expect(record.toString).toBeUndefined();
    }
  });

  it('routes on a label named __proto__ like on any other', () => {
    const config = parseFileConfig(
      'test.yml',
      "slack: { defaultChannel: C0DEFAULT1 }\nroutes:\n  - { matchers: ['__proto__=x'], channel: C0PROTO01 }\n",
    );
    expect(routeChannel(config, parsedFrom(body, '"__proto__":"x"').commonLabels)).toBe('C0PROTO01');
    expect(routeChannel(config, parsedFrom(body, '"__proto__":"y"').commonLabels)).toBe('C0DEFAULT1');
    expect(routeChannel(config, parsedFrom(body, '"constructor":"x"').commonLabels)).toBe('C0DEFAULT1');
  });

  it('accepts surrogate pairs (emoji): only a lone surrogate is refused', () => {
    const fire = structuredClone(body);
    fire.alerts[0]!.annotations.summary = '🔥 on fire';
    expect(WebhookPayloadSchema.parse(fire).alerts[0]!.annotations.summary).toBe('🔥 on fire');
  });
});

describe('WebhookPayloadSchema: annotations are prose, kept to a length', () => {
  it('cuts an annotation past MAX_ANNOTATION_LENGTH, never inside a surrogate pair; labels stay whole', () => {
    const long = 'x'.repeat(MAX_ANNOTATION_LENGTH + 10);
    const emoji = `${'x'.repeat(MAX_ANNOTATION_LENGTH - 2)}🔥🔥`;
    const parsed = WebhookPayloadSchema.parse(
      payload({
        group: 'Prose',
        alerts: [{ instance: 'pod-1', annotations: { description: emoji }, labels: { long } }],
        commonAnnotations: { description: long, summary: 'short' },
      }),
    );
    expect(parsed.commonAnnotations.description).toHaveLength(MAX_ANNOTATION_LENGTH);
    expect(parsed.commonAnnotations.description!.endsWith('x…')).toBe(true);
    expect(parsed.commonAnnotations.summary).toBe('short');
    const cut = parsed.alerts[0]!.annotations.description!;
    expect(cut.isWellFormed()).toBe(true);
    expect(cut.endsWith('x…')).toBe(true);
    expect(parsed.alerts[0]!.labels.long).toBe(long);
  });
});

describe('WebhookPayloadSchema: a group key past 2,000 bytes', () => {
  it('is its start and a digest of the whole, never inside a surrogate pair, the same every time', () => {
    const key = `${'k'.repeat(199)}😀${'x'.repeat(2000)}`;
    const read = (groupKey: string) =>
      WebhookPayloadSchema.parse({ ...payload({ group: 'G', alerts: [{ instance: 'a' }] }), groupKey })
        .groupKey;
    const stored = read(key);
    expect(stored).toMatch(/^k{199}… sha256:[0-9a-f]{64}$/);
    expect(read(key)).toBe(stored);
    expect(read(`${key}y`)).not.toBe(stored);
    // Read again, as the ingest reads a stored payload: unchanged.
    expect(read(stored)).toBe(stored);
    const short = 'k'.repeat(2000);
    expect(read(short)).toBe(short);
  });
});

describe('safeParseWebhookPayload: the quick way gives what the schema gives', () => {
  afterEach(() => vi.restoreAllMocks());
  const base = payload({
    group: 'Quick',
    alerts: [
      { instance: 'pod-1', annotations: { description: '🔥 x'.repeat(MAX_ANNOTATION_LENGTH / 3) } },
      { instance: 'pod-2', status: 'resolved', labels: { '10': 'ten', '2': 'two' } },
    ],
    commonAnnotations: { summary: 'y'.repeat(MAX_ANNOTATION_LENGTH + 1) },
  });
  type Path = Array<string | number>;
  /** The payload with each path set to its value; a path without a value is removed. */
  const edit = (...changes: Array<[Path, unknown?]>) => {
    type Node = Record<string | number, unknown>;
    const copy = structuredClone(base);
    for (const [path, ...value] of changes) {
      const parent = path.slice(0, -1).reduce((at, key) => at[key] as Node, copy as unknown as Node);
      if (value.length === 0) delete parent[path.at(-1)!];
      else parent[path.at(-1)!] = value[0];
    }
    return copy;
  };
  const eachAlert = (key: string): Array<[Path]> => base.alerts.map((_, i) => [['alerts', i, key]]);
  const valid: Record<string, unknown> = {
    'as Alertmanager sends it': base,
    'as JSON text, a label named __proto__': JSON.parse(
      JSON.stringify(base).replace('"commonLabels":{', '"commonLabels":{"__proto__":"x",'),
    ),
    'without the keys that have defaults': edit(
      ...['truncatedAlerts', 'groupLabels', 'commonLabels', 'commonAnnotations', 'externalURL'].map(
        (key): [Path] => [[key]],
      ),
      ...eachAlert('annotations'),
      ...eachAlert('generatorURL'),
      ...eachAlert('endsAt'),
    ),
    'with keys the schema does not know': edit([['extra'], { a: 1 }], [['alerts', 0, 'silencedBy'], []]),
    'truncatedAlerts past what the column holds': edit([['truncatedAlerts'], 2 ** 40]),
    'a time zone offset': edit([['alerts', 0, 'startsAt'], '2026-11-23T08:00:00+05:30']),
    'a group key longer than stored whole, ending its start in a surrogate pair': edit([
      ['groupKey'],
      `${'k'.repeat(199)}😀${'x'.repeat(2000)}`,
    ]),
    'the largest offsets PostgreSQL takes': edit(
      [['alerts', 0, 'startsAt'], '2026-11-23T08:00:00+15:59'],
      [['alerts', 1, 'endsAt'], '2026-11-23T09:00:00-15:59'],
    ),
  };
  const invalid: Record<string, unknown> = {
    'not an object': [base],
    'version 3': edit([['version'], '3']),
    'an empty groupKey': edit([['groupKey'], '']),
    'a NUL in a label': edit([['commonLabels', 'team'], 'a\u0000b']),
    'a lone surrogate in a label name': edit([['alerts', 0, 'labels', '\ud800'], 'x']),
    'a label of null': edit([['groupLabels', 'alertname'], null]),
    'labels of null': edit([['groupLabels'], null]),
    'annotations of null': edit([['alerts', 0, 'annotations'], null]),
    'labels missing': edit([['alerts', 1, 'labels']]),
    'annotations as a list': edit([['alerts', 0, 'annotations'], ['x']]),
    'the year 0000': edit([['alerts', 0, 'startsAt'], '0000-01-01T00:00:00Z']),
    'a time zone offset past 15:59': edit([['alerts', 0, 'startsAt'], '2026-11-23T08:00:00+23:00']),
    'an endsAt offset past -15:59': edit([['alerts', 1, 'endsAt'], '2026-11-23T09:00:00-16:00']),
    'a time without seconds': edit([['alerts', 1, 'endsAt'], '2026-11-23T09:00Z']),
    'a fingerprint too long': edit([['alerts', 0, 'fingerprint'], 'f'.repeat(65)]),
    'no alerts': edit([['alerts'], []]),
    'truncatedAlerts not a whole number': edit([['truncatedAlerts'], 1.5]),
    'truncatedAlerts below 0': edit([['truncatedAlerts'], -1]),
    'a status Alertmanager does not send': edit([['alerts', 0, 'status'], 'pending']),
    'a receiver that is not text': edit([['receiver'], 7]),
  };

  it.each(Object.entries(valid))(
    'reads a valid payload (%s) without the schema, as the schema would',
    (_, input) => {
      const expected = WebhookPayloadSchema.parse(input);
      const schema = vi.spyOn(WebhookPayloadSchema, 'safeParse');
      const quick = safeParseWebhookPayload(input);
      expect(schema).not.toHaveBeenCalled();
      expect(quick).toStrictEqual({ success: true, data: expected });
      // In the same order of keys, records without a prototype included.
      expect(JSON.stringify(quick.data)).toBe(JSON.stringify(expected));
      expect(Object.getPrototypeOf(quick.data!.commonLabels)).toBeNull();
      expect(parseWebhookPayload(input)).toStrictEqual(expected);
    },
  );

  it.each(Object.entries(invalid))(
    'leaves an invalid payload (%s) to the schema, which says what is wrong',
    (_, input) => {
      const expected = WebhookPayloadSchema.safeParse(input);
      expect(expected.success).toBe(false);
      expect(safeParseWebhookPayload(input)).toStrictEqual(expected);
      expect(() => parseWebhookPayload(input)).toThrow(
        expect.objectContaining({ issues: expected.error!.issues }),
      );
    },
  );
});
