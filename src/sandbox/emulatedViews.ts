import { type Block, checkText, type TextObject, validateBlocks } from '../render/blockKit.js';

/**
 * Modals as views.open and views.update take them: Slack's rules for a modal view, and the views the
 * emulator has opened, so that tests can see what a user was shown.
 */

// `text` is the limit for the title and for the submit and close buttons alike.
const MODAL_LIMITS = { text: 24, callbackId: 255, privateMetadata: 3000 } as const;

export interface Modal {
  type: 'modal';
  title: TextObject;
  submit?: TextObject;
  close?: TextObject;
  blocks: Block[];
  callback_id?: string;
  private_metadata?: string;
}

export interface EmulatedView {
  id: string;
  hash: string;
  triggerId: string;
  callbackId: string;
  privateMetadata: string;
  title: TextObject;
  submit?: TextObject;
  close?: TextObject;
  blocks: Block[];
}

/**
 * The modal in a `view` argument, or Slack's `response_metadata.messages` for one it refuses: lines like
 * `[ERROR] must be at most 24 characters, is 30 [json-pointer:/view/title/text]`.
 */
export function readModal(raw: unknown): Modal | string[] {
  // The argument is documented as a JSON-encoded string; form bodies arrive already parsed.
  const view = typeof raw === 'string' ? parseJson(raw) : raw;
  if (!view || typeof view !== 'object') return ['[ERROR] must provide an object [json-pointer:/view]'];
  const problems = modalProblems(view as Record<string, unknown>);
  return problems.length > 0 ? problems.map(toSlackMessage) : (view as Modal);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Problems as validateBlocks words them, `path: message`, with paths inside the view. */
function modalProblems(view: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (view.type !== 'modal') problems.push('type: expected modal');
  checkText(view.title, 'title', MODAL_LIMITS.text, problems, ['plain_text']);
  for (const button of ['submit', 'close']) {
    const text = view[button];
    if (text !== undefined) checkText(text, button, MODAL_LIMITS.text, problems, ['plain_text']);
  }
  checkString(view.callback_id, 'callback_id', MODAL_LIMITS.callbackId, problems);
  checkString(view.private_metadata, 'private_metadata', MODAL_LIMITS.privateMetadata, problems);
  problems.push(...validateBlocks(view.blocks, 'modal'));
  const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => b?.type === 'input');
  if (hasInput && view.submit === undefined) problems.push('submit: required when the view has input blocks');
  return problems;
}

function checkString(value: unknown, path: string, max: number, problems: string[]): void {
  if (value !== undefined && (typeof value !== 'string' || value.length > max)) {
    problems.push(`${path}: expected at most ${max} characters`);
  }
}

function toSlackMessage(problem: string): string {
  const colon = problem.indexOf(': ');
  const pointer = problem
    .slice(0, colon)
    .replace(/\[(\d+)\]/g, '.$1')
    .replaceAll('.', '/');
  return `[ERROR] ${problem.slice(colon + 2)} [json-pointer:/view/${pointer}]`;
}

export class ViewStore {
  private readonly views = new Map<string, EmulatedView>();
  private revisions = 0;

  open(triggerId: string, modal: Modal): EmulatedView {
    const view = { id: `V${String(this.views.size + 1).padStart(8, '0')}`, triggerId, ...this.fields(modal) };
    this.views.set(view.id, view);
    return view;
  }

  get(id: string): EmulatedView | undefined {
    return this.views.get(id);
  }

  /** Replaces the view's content whole; its id and trigger stay, its hash changes as Slack's does. */
  update(view: EmulatedView, modal: Modal): EmulatedView {
    const updated = { id: view.id, triggerId: view.triggerId, ...this.fields(modal) };
    this.views.set(view.id, updated);
    return updated;
  }

  all(): EmulatedView[] {
    return [...this.views.values()];
  }

  private fields(modal: Modal): Omit<EmulatedView, 'id' | 'triggerId'> {
    this.revisions += 1;
    return {
      // Slack's hashes look like `1569262015.55b5e41b`: a time and a revision.
      hash: `${Math.floor(Date.now() / 1000)}.${this.revisions.toString(16).padStart(8, '0')}`,
      callbackId: modal.callback_id ?? '',
      privateMetadata: modal.private_metadata ?? '',
      title: modal.title,
      ...(modal.submit ? { submit: modal.submit } : {}),
      ...(modal.close ? { close: modal.close } : {}),
      blocks: modal.blocks,
    };
  }
}

/** A view as the Web API returns it. */
export function viewToApi(view: EmulatedView, teamId: string): Record<string, unknown> {
  return {
    id: view.id,
    team_id: teamId,
    type: 'modal',
    title: view.title,
    ...(view.submit ? { submit: view.submit } : {}),
    ...(view.close ? { close: view.close } : {}),
    blocks: view.blocks,
    callback_id: view.callbackId,
    private_metadata: view.privateMetadata,
    state: { values: {} },
    hash: view.hash,
  };
}
