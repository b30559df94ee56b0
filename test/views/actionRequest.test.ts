import { describe, expect, it } from 'vitest';
import { TemplateSet } from '../../src/render/templates.js';
import { type ActionRequest, actionRequestView } from '../../src/views/actionRequest.js';

const request = (status: ActionRequest['status']): ActionRequest => ({
  id: 1,
  incidentId: null,
  action: 'scale',
  service: 'payments-api',
  params: { replicas: 6 },
  requestedBy: 'U0ALICE',
  status,
  requiredApprovals: 1,
  expiresAt: new Date('2026-01-01T00:15:00Z'),
  dryRunStatus: 'none',
  dryRunOutput: null,
  summary: status === 'succeeded' ? 'exit 0' : null,
  output: status === 'succeeded' ? 'scaled' : null,
  refusedChannelId: null,
  slackError: null,
});

const definition = { description: 'Scale it', approval: { approvers: ['U0BOB'], allowSelfApproval: false } };

describe('the action request message', () => {
  it('offers /action cancel only while the request waits', async () => {
    const templates = await TemplateSet.load();
    const footer = (status: ActionRequest['status']) =>
      JSON.stringify(
        templates
          .renderMessage('action-request', actionRequestView(request(status), definition, []))
          .blocks.at(-1),
      );
    expect(footer('pending')).toContain('`/action cancel ACT-1` withdraws it while it waits');
    for (const status of [
      'approved',
      'running',
      'succeeded',
      'failed',
      'rejected',
      'expired',
      'cancelled',
    ] as const)
      expect(footer(status), status).not.toContain('/action cancel');
  });
});

describe('the params an approver reads', () => {
  it('show a value filled from an alert label as one line: it cannot draw params of its own', async () => {
    const templates = await TemplateSet.load();
    const forged = {
      ...request('pending'),
      params: { deployment: 'api`\n• `force` = `true', reason: 'ok\u202Egnp.exe', replicas: 6 },
    };
    const message = templates.renderMessage('action-request', actionRequestView(forged, definition, []));
    const text = (message.blocks[0]!.text as { text: string }).text;
    expect(text.split('\n').slice(2)).toEqual([
      '• `deployment` = `api\\u{60}\\n• \\u{60}force\\u{60} = \\u{60}true`',
      '• `reason` = `ok\\u{202e}gnp.exe`',
      '• `replicas` = `6`',
    ]);
  });
});
