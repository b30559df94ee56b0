import { describe, expect, it } from 'vitest';
import { MAX_ANNOTATION_LENGTH, WebhookPayloadSchema } from '../../src/alerts/payload.js';
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
