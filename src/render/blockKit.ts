/**
 * Slack's Block Kit limits for messages and modals. Slack refuses anything beyond them (`invalid_blocks`
 * for a message, `invalid_arguments` for a view), so the renderer checks its output here and the Slack
 * emulator refuses what real Slack would refuse.
 */
export const BLOCK_KIT_LIMITS = {
  blocks: 50,
  modalBlocks: 100,
  headerText: 150,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  actionId: 255,
  buttonValue: 2000,
  url: 3000,
  blockId: 255,
  messageText: 40_000,
  inputLabel: 2000,
  inputHint: 2000,
  placeholder: 150,
  textInputLength: 3000,
  selectOptions: 100,
  checkboxOptions: 10,
  optionText: 75,
  optionValue: 150,
} as const;

/** Where blocks are shown: a modal takes more of them than a message. */
export type Surface = 'message' | 'modal';

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

/** Adds a problem for each way `value` is not a text object of an allowed type within `max` characters. */
export function checkText(
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
  if (element.confirm !== undefined)
    checkConfirm(element.confirm as Record<string, unknown>, `${path}.confirm`, problems);
}

/** A confirmation dialog: Slack's limits for its title, text and two buttons. */
function checkConfirm(confirm: Record<string, unknown>, path: string, problems: string[]): void {
  if (!confirm || typeof confirm !== 'object') {
    problems.push(`${path}: expected a confirmation dialog`);
    return;
  }
  checkText(confirm.title, `${path}.title`, L.confirmTitle, problems, ['plain_text']);
  checkText(confirm.text, `${path}.text`, L.confirmText, problems);
  checkText(confirm.confirm, `${path}.confirm`, L.confirmButton, problems, ['plain_text']);
  checkText(confirm.deny, `${path}.deny`, L.confirmButton, problems, ['plain_text']);
}

type Element = Record<string, unknown>;

function checkBoolean(value: unknown, path: string, problems: string[]): void {
  if (typeof value !== 'boolean') problems.push(`${path}: expected a boolean`);
}

function checkInteger(value: unknown, path: string, min: number, max: number, problems: string[]): void {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    problems.push(`${path}: expected an integer from ${min} to ${max}`);
  }
}

function checkOptions(
  options: unknown,
  path: string,
  problems: string[],
  { max = L.selectOptions as number, text = ['plain_text'] as ReadonlyArray<TextObject['type']> } = {},
): void {
  if (!Array.isArray(options) || options.length === 0 || options.length > max) {
    problems.push(`${path}: expected 1 to ${max} options`);
    return;
  }
  options.forEach((raw, i) => {
    const option = (raw ?? {}) as Element;
    checkText(option.text, `${path}[${i}].text`, L.optionText, problems, text);
    if (option.description !== undefined)
      checkText(option.description, `${path}[${i}].description`, L.optionText, problems, text);
    const value = option.value;
    if (typeof value !== 'string' || value.length === 0 || value.length > L.optionValue) {
      problems.push(`${path}[${i}].value: expected 1 to ${L.optionValue} characters`);
    }
  });
}

function checkStaticSelect(element: Element, path: string, problems: string[]): void {
  const { options, option_groups: groups } = element;
  if ((options === undefined) === (groups === undefined)) {
    problems.push(`${path}: needs either options or option_groups`);
  } else if (options !== undefined) {
    checkOptions(options, `${path}.options`, problems);
  } else if (!Array.isArray(groups) || groups.length === 0 || groups.length > L.selectOptions) {
    problems.push(`${path}.option_groups: expected 1 to ${L.selectOptions} groups`);
  } else {
    groups.forEach((raw, i) => {
      const group = (raw ?? {}) as Element;
      checkText(group.label, `${path}.option_groups[${i}].label`, L.optionText, problems, ['plain_text']);
      checkOptions(group.options, `${path}.option_groups[${i}].options`, problems);
    });
  }
}

/** Checkboxes: up to 10 options whose text may be mrkdwn; those checked at first are some of them. */
function checkCheckboxes(element: Element, path: string, problems: string[]): void {
  checkOptions(element.options, `${path}.options`, problems, {
    max: L.checkboxOptions,
    text: ['plain_text', 'mrkdwn'],
  });
  const initial = element.initial_options;
  if (initial === undefined) return;
  const values = new Set(((element.options as Element[] | undefined) ?? []).map((o) => o?.value));
  if (!Array.isArray(initial) || initial.some((o) => !values.has((o as Element)?.value))) {
    problems.push(`${path}.initial_options: expected some of the options`);
  }
}

function checkTextInput(element: Element, path: string, problems: string[]): void {
  const { min_length: min, max_length: max } = element;
  if (min !== undefined) checkInteger(min, `${path}.min_length`, 0, L.textInputLength, problems);
  if (max !== undefined) checkInteger(max, `${path}.max_length`, 1, L.textInputLength, problems);
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    problems.push(`${path}.min_length: must not exceed max_length`);
  }
  if (element.initial_value !== undefined && typeof element.initial_value !== 'string') {
    problems.push(`${path}.initial_value: expected a string`);
  }
  if (element.multiline !== undefined) checkBoolean(element.multiline, `${path}.multiline`, problems);
}

function checkNumberInput(element: Element, path: string, problems: string[]): void {
  checkBoolean(element.is_decimal_allowed, `${path}.is_decimal_allowed`, problems);
  // Slack takes the numbers as strings, and refuses a decimal where is_decimal_allowed is false.
  const decimal = element.is_decimal_allowed === true;
  const number = decimal ? /^-?\d+(\.\d+)?$/ : /^-?\d+$/;
  const valid = (key: string) => typeof element[key] === 'string' && number.test(element[key]);
  for (const key of ['initial_value', 'min_value', 'max_value']) {
    if (element[key] !== undefined && !valid(key)) {
      problems.push(`${path}.${key}: expected ${decimal ? 'a number' : 'an integer'} in a string`);
    }
  }
  if (valid('min_value') && valid('max_value') && Number(element.min_value) > Number(element.max_value)) {
    problems.push(`${path}.min_value: must not exceed max_value`);
  }
}

function checkInput(block: Block, path: string, problems: string[]): void {
  checkText(block.label, `${path}.label`, L.inputLabel, problems, ['plain_text']);
  if (block.hint !== undefined) checkText(block.hint, `${path}.hint`, L.inputHint, problems, ['plain_text']);
  if (block.optional !== undefined) checkBoolean(block.optional, `${path}.optional`, problems);
  const element = block.element as Element | undefined;
  const at = `${path}.element`;
  if (!element || typeof element !== 'object') {
    problems.push(`${at}: expected an element`);
    return;
  }
  // Unlike a button's, an input element's action_id may be left out: Slack makes one up.
  const actionId = element.action_id;
  if (actionId !== undefined && (typeof actionId !== 'string' || !actionId || actionId.length > L.actionId)) {
    problems.push(`${at}.action_id: expected 1 to ${L.actionId} characters`);
  }
  if (element.placeholder !== undefined) {
    checkText(element.placeholder, `${at}.placeholder`, L.placeholder, problems, ['plain_text']);
  }
  switch (element.type) {
    case 'plain_text_input':
      checkTextInput(element, at, problems);
      break;
    case 'static_select':
      checkStaticSelect(element, at, problems);
      break;
    case 'number_input':
      checkNumberInput(element, at, problems);
      break;
    case 'checkboxes':
      checkCheckboxes(element, at, problems);
      break;
    case 'datetimepicker':
      if (element.initial_date_time !== undefined) {
        checkInteger(
          element.initial_date_time,
          `${at}.initial_date_time`,
          0,
          Number.MAX_SAFE_INTEGER,
          problems,
        );
      }
      break;
    default:
      problems.push(`${at}.type: unsupported element type ${JSON.stringify(element.type)}`);
  }
}

/**
 * Returns one line per limit the blocks break; empty when Slack would accept them on that surface.
 * Input blocks are accepted on both: Slack takes them in messages as well as in modals.
 */
export function validateBlocks(blocks: unknown, surface: Surface = 'message'): string[] {
  const problems: string[] = [];
  if (!Array.isArray(blocks)) return ['blocks: expected an array'];
  const max = surface === 'modal' ? L.modalBlocks : L.blocks;
  if (blocks.length > max) problems.push(`blocks: at most ${max} blocks, got ${blocks.length}`);
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
        const accessory = block.accessory as Record<string, unknown> | undefined;
        if (accessory !== undefined) {
          if (accessory?.type !== 'button') problems.push(`${path}.accessory.type: only buttons are used`);
          else checkButton(accessory, `${path}.accessory`, problems);
        }
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
      case 'input':
        checkInput(block, path, problems);
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
