import type { Severity } from '../primitives/severity.js';

/** What a pager is told: open (trigger), someone has it (acknowledge), over (resolve). */
export type PageAction = 'trigger' | 'acknowledge' | 'resolve';

/** One event of an incident's page, as every kind of pager receives it. */
export interface PageEvent {
  action: PageAction;
  /** The same for every event of the incident on this pager. */
  dedupKey: string;
  /** The same for every try of this event, and for no other event. */
  idempotencyKey: string;
  incident: {
    ref: string;
    title: string;
    severity: Severity;
    status: string;
    /** Where its alerts are seen (Alertmanager), when an alert opened it. */
    url?: string;
    labels: Record<string, string>;
  };
  sentAt: Date;
}

/** A place pages go: PagerDuty, a webhook. Throws a PagerError when the event did not get through. */
export interface Pager {
  /** What the thread calls it: PagerDuty, the webhook. */
  readonly kind: string;
  send(event: PageEvent): Promise<void>;
}
