/**
 * Slack's Block Kit limits for messages. Slack answers `invalid_blocks` to anything beyond them, so the
 * renderer checks its output here and the Slack emulator refuses what real Slack would refuse.
 */
export const BLOCK_KIT_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  actionId: 255,
  buttonValue: 2000,
  url: 3000,
  blockId: 255,
  messageText: 40_000,
} as const;

export interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

export type Block = Record<string, unknown> & { type: string };

export interface SlackMessage {
  text: string;
  blocks: Block[];
}

const L = BLOCK_KIT_LIMITS;

function checkText(
  value: unknown,
  path: string,
  max: number,
  problems: string[],
  allowed: ReadonlyArray<TextObject['type']> = ['plain_text', 'mrkdwn'],
): void {
  const text = value as Partial<TextObject> | undefined;
  if (!text || typeof text !== 'object' || typeof text.text !== 'string') {
    problems.push(`${path}: expected a text object`);
    return;
  }
  if (!allowed.includes(text.type as TextObject['type'])) {
    problems.push(`${path}.type: expected ${allowed.join(' or ')}`);
  }
  if (text.text.length === 0) problems.push(`${path}.text: must not be empty`);
  if (text.text.length > max)
    problems.push(`${path}.text: must be at most ${max} characters, is ${text.text.length}`);
}

function checkButton(element: Record<string, unknown>, path: string, problems: string[]): void {
  checkText(element.text, `${path}.text`, L.buttonText, problems, ['plain_text']);
  const actionId = element.action_id;
  if (typeof actionId !== 'string' || actionId.length === 0 || actionId.length > L.actionId) {
    problems.push(`${path}.action_id: expected 1 to ${L.actionId} characters`);
  }
  if (
    element.value !== undefined &&
    (typeof element.value !== 'string' || element.value.length > L.buttonValue)
  ) {
    problems.push(`${path}.value: expected at most ${L.buttonValue} characters`);
  }
  if (element.url !== undefined && (typeof element.url !== 'string' || element.url.length > L.url)) {
    problems.push(`${path}.url: expected at most ${L.url} characters`);
  }
  if (element.style !== undefined && element.style !== 'primary' && element.style !== 'danger') {
    problems.push(`${path}.style: expected primary or danger`);
  }
}

/** Returns one line per limit the message breaks; empty when Slack would accept it. */
export function validateBlocks(blocks: unknown): string[] {
  const problems: string[] = [];
  if (!Array.isArray(blocks)) return ['blocks: expected an array'];
  if (blocks.length > L.blocks) problems.push(`blocks: at most ${L.blocks} blocks, got ${blocks.length}`);
  blocks.forEach((raw, i) => {
    const path = `blocks[${i}]`;
    const block = raw as Block;
    if (!block || typeof block !== 'object') {
      problems.push(`${path}: expected an object`);
      return;
    }
    if (
      block.block_id !== undefined &&
      (typeof block.block_id !== 'string' || block.block_id.length > L.blockId)
    ) {
      problems.push(`${path}.block_id: expected at most ${L.blockId} characters`);
    }
    switch (block.type) {
      case 'header':
        checkText(block.text, `${path}.text`, L.headerText, problems, ['plain_text']);
        break;
      case 'section': {
        const fields = block.fields as unknown[] | undefined;
        if (block.text === undefined && fields === undefined) problems.push(`${path}: needs text or fields`);
        if (block.text !== undefined) checkText(block.text, `${path}.text`, L.sectionText, problems);
        if (fields !== undefined) {
          if (!Array.isArray(fields) || fields.length === 0 || fields.length > L.sectionFields) {
            problems.push(`${path}.fields: expected 1 to ${L.sectionFields} fields`);
          } else {
            fields.forEach((f, j) => {
              checkText(f, `${path}.fields[${j}]`, L.fieldText, problems);
            });
          }
        }
        break;
      }
      case 'context': {
        const elements = block.elements as unknown[];
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > L.contextElements) {
          problems.push(`${path}.elements: expected 1 to ${L.contextElements} elements`);
        } else {
          elements.forEach((e, j) => {
            checkText(e, `${path}.elements[${j}]`, L.sectionText, problems);
          });
        }
        break;
      }
      case 'divider':
        break;
      case 'actions': {
        const elements = block.elements as Array<Record<string, unknown>>;
        if (!Array.isArray(elements) || elements.length === 0 || elements.length > L.actionsElements) {
          problems.push(`${path}.elements: expected 1 to ${L.actionsElements} elements`);
        } else {
          elements.forEach((e, j) => {
            if (e?.type !== 'button') problems.push(`${path}.elements[${j}].type: only buttons are used`);
            else checkButton(e, `${path}.elements[${j}]`, problems);
          });
        }
        break;
      }
      default:
        problems.push(`${path}.type: unsupported block type ${JSON.stringify(block.type)}`);
    }
  });
  return problems;
}
