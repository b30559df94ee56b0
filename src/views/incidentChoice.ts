import { z } from 'zod';
import { incidentRef } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { BLOCK_KIT_LIMITS, type Block, type SlackMessage } from '../render/blockKit.js';
import { escapeMrkdwn, truncateForMrkdwn, unescapeMrkdwn } from '../render/mrkdwn.js';

/**
 * The question a command typed in a channel with several open incidents answers with, for its typist
 * alone: which incident is it for? One button per incident; each carries the command, so that the
 * choice runs it (claimed by the command's trigger_id: one request, however many clicks).
 */

/** What a choice button carries: the incident, the command's trigger_id and its text as Slack sent it. */
export interface IncidentChoiceValue {
  incident: number;
  trigger: string;
  text: string;
}

// A click is hostile like any input: its value is read back through this, never trusted as written.
const ChoiceValue = z.strictObject({
  incident: z.number().int().min(1).max(999_999_999),
  trigger: z.string().regex(/^[\w.-]{1,255}$/),
  text: z.string().max(BLOCK_KIT_LIMITS.buttonValue),
});

export function readChoiceValue(raw: unknown): IncidentChoiceValue | undefined {
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed = ChoiceValue.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export interface IncidentChoiceInput {
  /** The command as typed: `/action`, `/health`. */
  command: string;
  /** As Slack sent it (`&`, `<` and `>` escaped): the click reads it as the command would have. */
  text: string;
  triggerId: string;
  /** The buttons' action_id: the listener that runs the command for the chosen incident. */
  actionId: string;
  incidents: Array<{ id: number; severity: Severity; title: string }>;
  /** Open incidents of the channel left out of the choice. */
  more: number;
}

/** The question, or undefined when the command is too long for a button to carry. */
export function incidentChoiceMessage(input: IncidentChoiceInput): SlackMessage | undefined {
  const values = input.incidents.map((i) =>
    JSON.stringify({ incident: i.id, trigger: input.triggerId, text: input.text }),
  );
  if (values.some((v) => v.length > BLOCK_KIT_LIMITS.buttonValue)) return undefined;
  // Shown in code: a backtick typed in the command would end it early.
  const typed = truncateForMrkdwn(
    `${input.command} ${unescapeMrkdwn(input.text)}`.trim().replace(/`/g, "'"),
    200,
  );
  const blocks: Block[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `Several incidents are open in this channel. Which is \`${escapeMrkdwn(typed)}\` for?`,
      },
    },
    // A block each: an action_id is unique within its block, and one button stays beside its incident.
    ...input.incidents.map((i, index) => ({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${incidentRef(i.id)}* · ${i.severity} · ${escapeMrkdwn(truncateForMrkdwn(i.title, 300))}`,
      },
      accessory: {
        type: 'button',
        action_id: input.actionId,
        text: { type: 'plain_text', text: `For ${incidentRef(i.id)}` },
        value: values[index],
      },
    })),
  ];
  if (input.more > 0) {
    const them = input.more === 1 ? 'incident is' : 'incidents are';
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${input.more} older open ${them} not listed: resolve what is over to choose among the rest.`,
        },
      ],
    });
  }
  return { text: 'Several incidents are open in this channel: which is this for?', blocks };
}
