import type { Queue } from 'bullmq';
import type { ActionCommandDeps } from '../commands/actionHandlers.js';
import type { HealthCommandDeps } from '../commands/healthHandlers.js';
import type { IncidentCommandDeps } from '../commands/incidentHandlers.js';
import type { FileConfig } from '../config/file.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { HealthJob } from '../queues/healthJobs.js';
import type { SlackApi } from '../slack/slackApi.js';
import type { UserNames } from '../slack/userNames.js';

/** What every listener may use: the use cases' dependencies, and Slack's Web API for what it says. */
export interface ListenerDeps extends IncidentCommandDeps, ActionCommandDeps, HealthCommandDeps {
  // The whole file: each use case reads its own parts of it.
  config: FileConfig;
  health: Queue<HealthJob>;
  slack: SlackApi;
  /** People's names, for text Slack shows as it is (a form's field error), where a mention shows nobody. */
  people: UserNames;
  metrics: Metrics;
  logger: Logger;
}
