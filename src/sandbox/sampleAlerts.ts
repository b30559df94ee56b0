import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type WebhookPayload, WebhookPayloadSchema } from '../alerts/payload.js';

/**
 * The sandbox's "send a sample alert" buttons: Alertmanager webhook payloads from src/sandbox/fixtures,
 * timed as Alertmanager would time them now. An alert keeps its startsAt from firing until it resolves;
 * firing again after that is a new instance with a new startsAt, as the bot expects.
 */

// Found from src/sandbox and dist/sandbox alike: the JSON files are not compiled.
const FIXTURES_DIR = fileURLToPath(new URL('../../src/sandbox/fixtures/', import.meta.url));

export interface SampleAlert {
  /** The fixture's file name without .json, e.g. payments-api-latency.firing. */
  id: string;
  title: string;
  status: 'firing' | 'resolved';
}

export class SampleAlerts {
  private readonly startedAt = new Map<string, string>();

  private constructor(private readonly payloads: Map<string, WebhookPayload>) {}

  static async load(dir = FIXTURES_DIR): Promise<SampleAlerts> {
    const payloads = new Map<string, WebhookPayload>();
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
      const parsed = WebhookPayloadSchema.parse(JSON.parse(await readFile(`${dir}${file}`, 'utf8')));
      payloads.set(file.slice(0, -'.json'.length), parsed);
    }
    return new SampleAlerts(payloads);
  }

  list(): SampleAlert[] {
    return [...this.payloads].map(([id, p]) => ({
      id,
      title: `${p.groupLabels.alertname ?? p.groupKey} on ${p.commonLabels.service ?? 'a service'}`,
      status: p.status,
    }));
  }

  /** The payload to deliver now, or undefined for an unknown id. */
  payload(id: string, now = new Date()): WebhookPayload | undefined {
    const fixture = this.payloads.get(id);
    if (!fixture) return undefined;
    const alerts = fixture.alerts.map((alert) => {
      const known = this.startedAt.get(alert.fingerprint);
      if (alert.status === 'resolved') {
        this.startedAt.delete(alert.fingerprint);
        return { ...alert, startsAt: known ?? alert.startsAt, endsAt: now.toISOString() };
      }
      const since = known ?? now.toISOString();
      this.startedAt.set(alert.fingerprint, since);
      // Go's zero time: what Alertmanager sends for an alert that has not ended.
      return { ...alert, startsAt: since, endsAt: '0001-01-01T00:00:00Z' };
    });
    return { ...fixture, alerts };
  }
}
