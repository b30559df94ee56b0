import { isPerson } from '../actions/catalog.js';
import { SlackRejectedError } from '../slack/errors.js';
import type { SlackApi } from '../slack/slackApi.js';
import type { EscalationConfig } from './configSchema.js';

/**
 * The user groups escalation steps mention that Slack does not have, one line each with where the config
 * names it: a misspelt handle would call nobody, found out only when it matters. Undefined when Slack did
 * not answer (an outage must not keep the bot from starting; the log says the check was skipped).
 */
export async function unknownEscalationGroups(
  slack: Pick<SlackApi, 'userGroups'>,
  config: { escalation: EscalationConfig },
): Promise<string[] | undefined> {
  const named = Object.entries(config.escalation.policies).flatMap(([name, policy]) =>
    policy.steps.flatMap((step, i) =>
      step.notify.flatMap((entry, j) =>
        isPerson(entry) ? [] : [{ entry, path: `escalation.policies.${name}.steps[${i}].notify[${j}]` }],
      ),
    ),
  );
  if (named.length === 0) return [];
  let known: Set<string>;
  try {
    known = new Set((await slack.userGroups()).flatMap((g) => [g.id, `@${g.handle}`]));
  } catch (err) {
    if (!(err instanceof SlackRejectedError)) return undefined;
    return [
      `escalation: Slack refused to list user groups (${err.slackError}), so the groups it mentions cannot be called`,
    ];
  }
  return named
    .filter(({ entry }) => !known.has(entry))
    .map(({ entry, path }) => `${path}: Slack has no user group ${entry}`);
}
