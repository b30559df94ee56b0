// Block Kit to DOM: the blocks the bot sends in messages and modals, drawn roughly as Slack draws them.
import { el } from './dom.js';
import { decodeEntities, renderText } from './mrkdwn.js';

/**
 * A button. `onClick(button)` is called when it is clicked; without one (an ephemeral message, whose
 * buttons the sandbox does not wire) the button is shown disabled.
 */
function button(element, onClick) {
  const node = el(
    'button',
    `bk-button ${element.style === 'primary' || element.style === 'danger' ? element.style : ''}`,
  );
  node.type = 'button';
  node.textContent = decodeEntities(element.text?.text ?? '');
  node.dataset.actionId = element.action_id ?? '';
  // Slack asks first when the button has a confirm dialog, and sends nothing if told no.
  const confirmed = () =>
    !element.confirm ||
    window.confirm(
      [element.confirm.title?.text, element.confirm.text?.text]
        .filter(Boolean)
        .map(decodeEntities)
        .join('\n\n'),
    );
  if (onClick) node.addEventListener('click', () => confirmed() && onClick(element, node));
  else node.disabled = true;
  return node;
}

function section(block, ctx, onClick) {
  const node = el('div', 'bk-section');
  const body = el('div', 'bk-section-body');
  if (block.text) renderText(block.text, body.appendChild(el('div', 'bk-text')), ctx);
  if (Array.isArray(block.fields)) {
    const fields = body.appendChild(el('div', 'bk-fields'));
    for (const field of block.fields) renderText(field, fields.appendChild(el('div', 'bk-field')), ctx);
  }
  node.append(body);
  if (block.accessory?.type === 'button') node.append(button(block.accessory, onClick));
  return node;
}

function context(block, ctx) {
  const node = el('div', 'bk-context');
  for (const element of block.elements ?? []) {
    if (element.type === 'image') node.append(el('span', 'bk-image-alt', `[${element.alt_text ?? 'image'}]`));
    else renderText(element, node.appendChild(el('span', 'bk-context-item')), ctx);
  }
  return node;
}

/** Checkboxes, each option a box; those in initial_options start checked. */
function checkboxes(element, name, ctx) {
  const node = el('span', 'bk-checkboxes bk-field-input');
  node.dataset.name = name;
  const initial = new Set((element.initial_options ?? []).map((o) => o.value));
  for (const option of element.options ?? []) {
    const row = node.appendChild(el('label', 'bk-checkbox'));
    const box = row.appendChild(el('input'));
    box.type = 'checkbox';
    box.value = option.value;
    box.checked = initial.has(option.value);
    const text = row.appendChild(el('span'));
    renderText(option.text ?? {}, text, ctx);
    if (option.description) renderText(option.description, text.appendChild(el('div', 'bk-hint')), ctx);
  }
  return node;
}

function input(block, errors, ctx) {
  const element = block.element ?? {};
  // Each checkbox has a label of its own, and labels do not nest.
  const node = el(element.type === 'checkboxes' ? 'div' : 'label', 'bk-input');
  node.dataset.blockId = block.block_id ?? '';
  const label = node.appendChild(el('span', 'bk-input-label', decodeEntities(block.label?.text ?? '')));
  if (block.optional) label.append(el('span', 'bk-optional', ' (optional)'));
  let field;
  if (element.type === 'checkboxes') {
    node.append(checkboxes(element, block.block_id ?? '', ctx));
    return withHintAndError(node, block, errors);
  }
  if (element.type === 'static_select') {
    field = el('select');
    if (!element.initial_option)
      field.append(new Option(decodeEntities(element.placeholder?.text ?? 'Choose…'), ''));
    for (const option of element.options ?? []) {
      const choice = new Option(decodeEntities(option.text?.text ?? ''), option.value);
      choice.selected = option.value === element.initial_option?.value;
      field.append(choice);
    }
  } else if (element.type === 'plain_text_input' && element.multiline) {
    field = el('textarea');
    field.rows = 4;
  } else {
    field = el('input');
    field.type = { number_input: 'number', datetimepicker: 'datetime-local' }[element.type] ?? 'text';
  }
  if (element.type !== 'static_select') {
    if (element.initial_value !== undefined) field.value = element.initial_value;
    if (element.max_length) field.maxLength = element.max_length;
    if (element.placeholder?.text) field.placeholder = decodeEntities(element.placeholder.text);
  }
  field.name = block.block_id ?? '';
  field.className = 'bk-field-input';
  node.append(field);
  return withHintAndError(node, block, errors);
}

function withHintAndError(node, block, errors) {
  if (block.hint?.text) node.append(el('span', 'bk-hint', decodeEntities(block.hint.text)));
  const error = errors?.[block.block_id];
  if (error) node.append(el('span', 'bk-error', error));
  return node;
}

/**
 * Appends `blocks` to `parent`. `onClick(block index, button element, button node)` handles button
 * clicks; `errors` are a modal's, by block id.
 */
export function renderBlocks(blocks, parent, ctx, { onClick, errors } = {}) {
  blocks.forEach((block, index) => {
    const click = onClick ? (element, node) => onClick(index, element, node) : undefined;
    switch (block.type) {
      case 'header':
        parent.append(el('h3', 'bk-header', decodeEntities(block.text?.text ?? '')));
        break;
      case 'section':
        parent.append(section(block, ctx, click));
        break;
      case 'context':
        parent.append(context(block, ctx));
        break;
      case 'divider':
        parent.append(el('hr', 'bk-divider'));
        break;
      case 'actions': {
        const row = parent.appendChild(el('div', 'bk-actions'));
        for (const element of block.elements ?? [])
          if (element.type === 'button') row.append(button(element, click));
        break;
      }
      case 'input':
        parent.append(input(block, errors, ctx));
        break;
      default:
        parent.append(el('div', 'bk-unsupported', `[${String(block.type)} block: not drawn by the sandbox]`));
    }
  });
}

/** What a modal's inputs hold, by block id: null for one left empty, as Slack sends it. */
export function readInputs(form) {
  const values = {};
  for (const field of form.querySelectorAll('.bk-field-input')) {
    if (field.classList.contains('bk-checkboxes')) {
      // The checked options' values, one a line, as the sandbox's API takes them.
      const checked = [...field.querySelectorAll('input:checked')].map((box) => box.value);
      values[field.dataset.name] = checked.length > 0 ? checked.join('\n') : null;
    } else values[field.name] = field.value === '' ? null : field.value;
  }
  return values;
}
