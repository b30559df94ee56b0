import { readFile } from 'node:fs/promises';
import { DEFAULT_TEST_CONFIG } from './testBot.js';

export const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;

/** A run as RECORDER logs it: its argv, its pid (and its helper's), and when it started (ms). */
export interface RecordedRun {
  argv: string[];
  pid: number;
  childPid?: number;
  at: number;
}

/** The runs RECORDER has logged in `runLog`, in the order they started; none while it is not there. */
export async function recordedRuns(runLog: string): Promise<RecordedRun[]> {
  return (await readFile(runLog, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RecordedRun);
}

/**
 * The test config with a `rollout` action on each service that records its run in $RUN_LOG and then runs
 * until `releaseFile` exists, approved by bob: an action that is running for as long as a test needs. It
 * starts a helper process, as real tools do: a stopped run must end its whole process group.
 */
export function rolloutConfig(releaseFile: string, services = ['payments-api'], extraYaml = ''): string {
  return `${DEFAULT_TEST_CONFIG}${extraYaml}\nservices:\n${services.map((s) => rolloutService(s, releaseFile)).join('\n')}\n`;
}

/** One service's entry under `services:` offering the roll-out, with `extra` lines of YAML for the action. */
export function rolloutService(service: string, releaseFile: string, extra = ''): string {
  return `  ${service}:
    actions:
      - name: rollout
        description: A roll-out that ends when the test says so
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, rollout, ${service}, --with-helper, --until, ${releaseFile}], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
        timeout: 2m${extra ? `\n${extra}` : ''}`;
}
