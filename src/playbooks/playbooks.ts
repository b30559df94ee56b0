import type { ActionCatalog, ActionDefinition } from '../actions/catalog.js';
import type { ParamValue } from '../actions/drivers/driver.js';
import { optionParamsOf } from '../actions/drivers/index.js';
import { validateParams } from '../actions/params.js';
import { matches } from '../alerts/matchers.js';
import type { HealthCheck } from '../health/checkSchema.js';
import { incidentRef } from '../primitives/ids.js';
import { ownValue } from '../primitives/records.js';
import { BLOCK_KIT_LIMITS } from '../render/blockKit.js';
import { truncateForMrkdwn, unescapeMrkdwn } from '../render/mrkdwn.js';
import { PLAYBOOK_PROBLEM_MAX, type PlaybookView } from '../views/incident.js';
import { LABEL_PLACEHOLDER, MOVE_NAME, type Playbook, type PlaybooksConfig } from './configSchema.js';
import { PlaybookError } from './errors.js';

/**
 * The runbook's first moves for an incident: the playbook its labels match, and each of its moves as the
 * root message offers it. Read afresh from the config whenever the root is drawn or a button clicked.
 */

export interface PlaybookCatalog extends ActionCatalog {
  services: Readonly<
    Record<string, { actions: readonly ActionDefinition[]; checks: readonly HealthCheck[] }>
  >;
  playbooks: PlaybooksConfig;
}

/** What an incident shows of itself to its playbooks: only alert-born ones have any. */
export interface PlaybookIncident {
  groupKey: string | null;
  groupLabels: Readonly<Record<string, string>>;
  commonLabels: Readonly<Record<string, string>>;
}

/**
 * The labels a playbook reads: the ones every alert of the group shares (its group and common labels,
 * group labels winning, as routes read them). Another label has no single value for a group of many.
 */
export function incidentLabels(incident: PlaybookIncident): Record<string, string> {
  return { ...incident.commonLabels, ...incident.groupLabels };
}

/** Whether any playbook runs checks by itself as an incident opens (`auto: true`). */
export function anyAutoChecks(config: { playbooks: PlaybooksConfig }): boolean {
  return config.playbooks.some((playbook) => playbook.checks.some((check) => check.auto));
}

/** The first playbook whose matchers all match the incident's labels; none for a declared incident. */
export function playbookFor(config: PlaybookCatalog, incident: PlaybookIncident): Playbook | undefined {
  if (incident.groupKey === null) return undefined;
  const labels = incidentLabels(incident);
  return config.playbooks.find((p) => p.matchers.every((m) => matches(m, labels)));
}

export type Move =
  | { kind: 'check'; name: string; check: HealthCheck; auto: boolean }
  | {
      kind: 'action';
      name: string;
      definition: ActionDefinition;
      /** Filled from the labels and checked by the action's params, or why it cannot be requested. */
      filled: { ok: true; params: Record<string, ParamValue> } | { ok: false; problem: string };
    };

/** The playbook's moves for an incident, in the order the root shows them: checks, then actions. */
export function movesOf(config: PlaybookCatalog, playbook: Playbook, incident: PlaybookIncident): Move[] {
  const service = ownValue(config.services, playbook.service);
  if (!service) return [];
  const labels = incidentLabels(incident);
  const moves: Move[] = [];
  for (const { check: name, auto } of playbook.checks) {
    const check = service.checks.find((c) => c.name === name);
    if (check) moves.push({ kind: 'check', name, check, auto });
  }
  for (const { action: name, params } of playbook.actions) {
    const definition = service.actions.find((a) => a.name === name);
    if (definition)
      moves.push({ kind: 'action', name, definition, filled: fillParams(definition, params, labels) });
  }
  return moves;
}

/** A move as a click may carry it out: a check, or an action with its params filled and checked. */
export type ChosenMove =
  | Extract<Move, { kind: 'check' }>
  | { kind: 'action'; name: string; definition: ActionDefinition; params: Record<string, ParamValue> };

/**
 * The move of this kind and name the incident's playbook offers now, as a button click asks for it; an
 * action only with its params filled. Refused (PlaybookError) with the reason otherwise.
 */
export function chosenMove(
  config: PlaybookCatalog,
  incident: PlaybookIncident & { id: number },
  kind: Move['kind'],
  name: string,
): { playbook: Playbook; move: ChosenMove } {
  const playbook = playbookFor(config, incident);
  const move =
    playbook && movesOf(config, playbook, incident).find((m) => m.kind === kind && m.name === name);
  if (!playbook || !move)
    throw new PlaybookError(
      'MOVE_NOT_OFFERED',
      `${incidentRef(incident.id)}'s playbook no longer offers ${name}: the config changed since its message was drawn.`,
    );
  if (move.kind === 'check') return { playbook, move };
  if (!move.filled.ok)
    throw new PlaybookError(
      'MOVE_UNAVAILABLE',
      `${name} cannot be requested from ${incidentRef(incident.id)}'s playbook: ${move.filled.problem}. Request it with \`/action ${name} ${playbook.service} …\` instead.`,
    );
  const { definition } = move;
  return { playbook, move: { kind: 'action', name, definition, params: move.filled.params } };
}

/**
 * The action's params from the playbook's templates, each `{{labels.name}}` replaced by the label's value,
 * then checked as typed ones are (an option-like value refused where the command would take it for one).
 */
export function fillParams(
  definition: ActionDefinition,
  templates: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): { ok: true; params: Record<string, ParamValue> } | { ok: false; problem: string } {
  const missing = new Set<string>();
  const raw: Record<string, string> = Object.create(null);
  for (const [param, template] of Object.entries(templates)) {
    raw[param] = template.replace(LABEL_PLACEHOLDER, (_, label: string) => {
      const value = ownValue(labels, label);
      if (value === undefined) missing.add(label);
      return value ?? '';
    });
  }
  if (missing.size > 0) {
    const names = [...missing].map((l) => `\`${l}\``).join(', ');
    return {
      ok: false,
      problem: `needs the label${missing.size > 1 ? 's' : ''} ${names}, which this incident's alerts do not share`,
    };
  }
  const checked = validateParams(definition.params, raw, optionParamsOf(definition.driver));
  return checked.ok ? checked : { ok: false, problem: checked.problems.join('; ') };
}

const isBuilt = (record: unknown) =>
  typeof record === 'object' && record !== null && !(record instanceof Map);

/**
 * What the playbooks name that the catalog does not have, each with its path in the file: a service,
 * a check or action of it, a param of the action, a param it requires and no template gives, a value
 * without placeholders that the param refuses. Told at start, with the file's other problems.
 */
export function playbookProblems(
  config: Pick<PlaybookCatalog, 'services' | 'playbooks'>,
): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  // A section with problems of its own is told about those first: its records are left unbuilt (Maps).
  if (!Array.isArray(config.playbooks) || !isBuilt(config.services)) return problems;
  config.playbooks.forEach((playbook, i) => {
    if (!playbook.actions.every((a) => isBuilt(a.params))) return;
    const at = (...path: Array<string | number>) => ['playbooks', i, ...path];
    const service = ownValue(config.services, playbook.service);
    if (!service) {
      const known = Object.keys(config.services);
      problems.push({
        path: at('service'),
        message: `no service ${playbook.service} in services${known.length ? ` (known: ${known.join(', ')})` : ''}`,
      });
      return;
    }
    // A name that cannot be one is told so by the schema: not again as a move the service lacks.
    playbook.checks.forEach(({ check }, j) => {
      if (MOVE_NAME.test(check) && !service.checks.some((c) => c.name === check))
        problems.push({ path: at('checks', j), message: `${playbook.service} has no check ${check}` });
    });
    playbook.actions.forEach(({ action, params }, j) => {
      if (!MOVE_NAME.test(action)) return;
      const definition = service.actions.find((a) => a.name === action);
      if (!definition) {
        problems.push({ path: at('actions', j), message: `${playbook.service} has no action ${action}` });
        return;
      }
      if (!isBuilt(definition.params)) return;
      for (const param of Object.keys(params))
        if (!Object.hasOwn(definition.params, param))
          problems.push({
            path: at('actions', j, 'params', param),
            message: `${action} has no param ${param}`,
          });
      for (const [param, spec] of Object.entries(definition.params))
        if (spec.default === undefined && !Object.hasOwn(params, param))
          problems.push({
            path: at('actions', j, 'params'),
            message: `${action} requires ${param}: give it a value or {{labels.name}}`,
          });
      // A value with no placeholder is the same for every incident: check it now, not at 3 a.m.
      const fixed = Object.entries(params).filter(
        ([param, template]) => Object.hasOwn(definition.params, param) && !template.match(LABEL_PLACEHOLDER),
      );
      for (const [param, value] of fixed) {
        const checked = validateParams(
          { [param]: definition.params[param]! },
          { [param]: value },
          optionParamsOf(definition.driver),
        );
        if (!checked.ok)
          problems.push({ path: at('actions', j, 'params', param), message: checked.problems.join('; ') });
      }
    });
  });
  return problems;
}

/** The action_id of the root's n-th move button: Slack wants each of a message's action_ids distinct. */
export const MOVE_ACTION_ID = /^playbook_move_(\d+)$/;

/** A move button's value: the incident and the move, re-read from the config when it is clicked. */
export function moveValue(incidentId: number, move: Pick<Move, 'kind' | 'name'>): string {
  return `${incidentId}|${move.kind}|${move.name}`;
}

export function readMoveValue(
  value: unknown,
): { incidentId: number; kind: Move['kind']; name: string } | undefined {
  const found =
    typeof value === 'string' ? /^(\d{1,15})\|(check|action)\|([a-z][a-z0-9-]{0,62})$/.exec(value) : null;
  if (!found) return undefined;
  return { incidentId: Number(found[1]), kind: found[2] as Move['kind'], name: found[3]! };
}

/** The incident's playbook as its root message shows it: a button a move, and why any cannot be run. */
export function playbookView(
  config: PlaybookCatalog,
  incident: PlaybookIncident & { id: number },
): PlaybookView | undefined {
  const playbook = playbookFor(config, incident);
  if (!playbook) return undefined;
  const moves = movesOf(config, playbook, incident);
  if (moves.length === 0) return undefined;
  return {
    name: playbook.name,
    moves: moves.map((move, i) => {
      const unavailable = move.kind === 'action' && !move.filled.ok;
      return {
        actionId: `playbook_move_${i}`,
        label: truncateForMrkdwn(
          `${unavailable ? '⚠️' : move.kind === 'check' ? '🩺' : '🛠️'} ${move.kind === 'check' ? 'Check' : 'Request'} ${move.name}`,
          BLOCK_KIT_LIMITS.buttonText,
        ),
        value: moveValue(incident.id, move),
        ...(unavailable ? { unavailable: true as const } : {}),
      };
    }),
    problems: moves.flatMap((move) =>
      move.kind === 'action' && !move.filled.ok
        ? // Written escaped, as a reply says it; the template escapes view text itself.
          [truncateForMrkdwn(unescapeMrkdwn(`${move.name}: ${move.filled.problem}`), PLAYBOOK_PROBLEM_MAX)]
        : [],
    ),
  };
}
