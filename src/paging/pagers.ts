import type { Pager } from '../pagers/pager.js';
import { PagerDutyPager } from '../pagers/pagerDuty.js';
import { WebhookPager } from '../pagers/webhookPager.js';
import type { PagerSecrets, PagersConfig } from './configSchema.js';

/** The configured pagers by name, each with its secret; PagerDuty's at `pagerDutyEventsUrl`. */
export function createPagers(
  pagers: PagersConfig | undefined,
  secrets: PagerSecrets,
  pagerDutyEventsUrl: string,
): Record<string, Pager> {
  const created: Record<string, Pager> = Object.create(null);
  for (const [name, pager] of Object.entries(pagers ?? {})) {
    const secret = secrets[name];
    // readPagerSecrets refused the start without it.
    if (secret === undefined) throw new Error(`no secret for pager ${name}`);
    created[name] =
      pager.type === 'pagerduty'
        ? new PagerDutyPager(secret, pagerDutyEventsUrl)
        : new WebhookPager(pager.url, secret);
  }
  return created;
}
