import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { findAction } from '../../src/actions/catalog.js';
import { openActionRequest } from '../../src/approvals/openRequest.js';
import { parseFileConfig } from '../../src/config/file.js';
import type { ActionJob } from '../../src/queues/actionJobs.js';
import type { SlackSyncJob } from '../../src/queues/queues.js';
import { incidentOnDatabase } from '../support/approvals.js';

const config = parseFileConfig(
  'test',
  `slack: { defaultChannel: C0DEFAULT1 }
services:
  payments-api:
    actions:
      - name: rollback
        description: Roll the deployment back
        kind: rollback
        driver: { type: command, argv: [/bin/true], dryRunArgv: [/bin/true, --dry-run] }
        approval: { approvers: [U0BOB], required: 1 }
        dryRun: true
`,
);

describe('opening an action request', () => {
  const database = incidentOnDatabase();

  it('asks the queue for its dry run, its expiry and its message at once: one failing keeps none back', async () => {
    const asked: string[] = [];
    const queue = <T>(failing: string[] = []) =>
      ({
        add: async (name: string) => {
          asked.push(name);
          if (failing.includes(name)) throw new Error('the job queue is not answering');
        },
      }) as unknown as Queue<T>;
    const { pool, incidentId } = database();

    const opened = openActionRequest(
      { pool, actions: queue<ActionJob>(['dry-run']), slackSync: queue<SlackSyncJob>() },
      {
        definition: findAction(config, 'payments-api', 'rollback')!,
        service: 'payments-api',
        params: {},
        requestedBy: 'U0ALICE',
        channelId: 'C0OPS',
        incident: { id: incidentId, rootTs: null },
        requestKey: 'command:open-1',
      },
    );

    await expect(opened).rejects.toThrow('not answering');
    expect(asked.sort()).toEqual(['action-request', 'dry-run', 'expire']);
  });
});
