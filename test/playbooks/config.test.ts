import { describe, expect, it } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import {
  anyAutoChecks,
  chosenMove,
  fillParams,
  playbookFor,
  playbookView,
} from '../../src/playbooks/playbooks.js';
import { problemsOf } from '../support/configProblems.js';

const CATALOG = `slack:
  defaultChannel: C0123ABCD
services:
  payments-api:
    checks:
      - { name: health, kind: http, url: 'http://payments-api:8000/health' }
    actions:
      - name: scale
        description: kubectl scale
        kind: scale
        driver: { type: command, argv: [kubectl, scale, '--replicas={{replicas}}', '{{deployment}}'] }
        params:
          replicas: { type: integer, min: 1, max: 20 }
          deployment: { type: string, maxLength: 60 }
          reason: { type: string, default: 'playbook' }
        approval: { approvers: [U0BOB] }
      - name: restart
        description: kubectl rollout restart
        kind: custom
        driver: { type: command, argv: [kubectl, rollout, restart, deployment/payments-api] }
        approval: { approvers: [U0BOB] }
`;

const withPlaybook = (playbook: string) =>
  `${CATALOG}playbooks:\n  - ${playbook.trim().replace(/\n/g, '\n    ')}\n`;

const incident = (labels: Record<string, string>, groupKey: string | null = '{}:{alertname="X"}') => ({
  id: 7,
  groupKey,
  groupLabels: { alertname: labels.alertname ?? 'ServiceDown' },
  commonLabels: labels,
});

describe('the playbooks section', () => {
  it('is empty by default', () => {
    expect(parseFileConfig('x', CATALOG).playbooks).toEqual([]);
    expect(anyAutoChecks(parseFileConfig('x', CATALOG))).toBe(false);
  });

  it('runs checks by itself only where a playbook marks one auto', () => {
    const offered = 'name: p\nmatchers: [alertname=X]\nservice: payments-api\nchecks: [health]';
    expect(anyAutoChecks(parseFileConfig('x', withPlaybook(offered)))).toBe(false);
    const auto =
      'name: p\nmatchers: [alertname=X]\nservice: payments-api\nchecks: [{ check: health, auto: true }]';
    expect(anyAutoChecks(parseFileConfig('x', withPlaybook(auto)))).toBe(true);
  });

  it('reads moves written as names or objects, and picks the first playbook that matches', () => {
    const config = parseFileConfig(
      'x',
      `${CATALOG}playbooks:
  - name: specific
    matchers: ['alertname=ServiceDown', 'env=prod']
    service: payments-api
    checks: [health]
  - name: general
    matchers: ['alertname=~Service.*']
    service: payments-api
    checks: [{ check: health, auto: true }]
    actions: [restart, { action: scale, params: { replicas: 3, deployment: 'api-{{labels.env}}' } }]
`,
    );
    expect(config.playbooks[1]).toMatchObject({
      checks: [{ check: 'health', auto: true }],
      actions: [
        { action: 'restart', params: {} },
        { action: 'scale', params: { replicas: '3', deployment: 'api-{{labels.env}}' } },
      ],
      autoChecksOncePer: 600_000,
    });
    expect(playbookFor(config, incident({ alertname: 'ServiceDown', env: 'prod' }))?.name).toBe('specific');
    expect(playbookFor(config, incident({ alertname: 'ServiceDown', env: 'dev' }))?.name).toBe('general');
    expect(playbookFor(config, incident({ alertname: 'HighLatency' }))).toBeUndefined();
    // A declared incident has no alerts to match.
    expect(playbookFor(config, incident({ alertname: 'ServiceDown' }, null))).toBeUndefined();
  });

  it('refuses what the catalog does not have, each problem at its path', () => {
    expect(
      problemsOf(
        withPlaybook(`name: p
matchers: ['alertname=A']
service: billing
checks: [health]`),
      ),
    ).toEqual(['playbooks[0].service: no service billing in services (known: payments-api)']);
    expect(
      problemsOf(
        withPlaybook(`name: p
matchers: ['alertname=A']
service: payments-api
checks: [liveness]
actions: [rollback, { action: scale, params: { replicas: 3, size: 2 } }]`),
      ),
    ).toEqual([
      'playbooks[0].checks[0]: payments-api has no check liveness',
      'playbooks[0].actions[0]: payments-api has no action rollback',
      'playbooks[0].actions[1].params.size: scale has no param size',
      'playbooks[0].actions[1].params: scale requires deployment: give it a value or {{labels.name}}',
    ]);
  });

  it('checks a value without placeholders now, and allows no placeholder but {{labels.name}}', () => {
    expect(
      problemsOf(
        withPlaybook(`name: p
matchers: ['alertname=A']
service: payments-api
actions: [{ action: scale, params: { replicas: 50, deployment: '--kubeconfig=/tmp/x' } }]`),
      ),
    ).toEqual([
      'playbooks[0].actions[0].params.replicas: replicas must be at most 20, got 50',
      'playbooks[0].actions[0].params.deployment: deployment may not start with "-": the command would take it for an option',
    ]);
    for (const template of ['{{env.SECRET}}', '{{labels.a}}{{', '{{#if x}}y{{/if}}', '{{ labels.a-b }}'])
      expect(
        problemsOf(
          withPlaybook(`name: p
matchers: ['alertname=A']
service: payments-api
actions: [{ action: scale, params: { replicas: 2, deployment: '${template}' } }]`),
        ),
      ).toEqual([
        'playbooks[0].actions[0].params.deployment: the only placeholder a value may hold is {{labels.name}}',
      ]);
  });

  it('tells a bad param of the service its playbook names at its path, and nothing it does not lack', () => {
    expect(
      problemsOf(
        withPlaybook(`name: p
matchers: ['alertname=A']
service: payments-api
actions: [{ action: scale, params: { replicas: 2, deployment: api } }]`).replace(
          'deployment: { type: string, maxLength: 60 }',
          "deployment: { type: string, pattern: '(' }",
        ),
      ),
    ).toEqual([
      'services.payments-api.actions[0].params.deployment.pattern: expected a valid regular expression',
    ]);
  });

  it('tells a move name that cannot be one once, not again as a move the service lacks', () => {
    expect(
      problemsOf(withPlaybook(`name: p\nmatchers: ['alertname=A']\nservice: payments-api\nchecks: [Health]`)),
    ).toEqual([
      'playbooks[0].checks[0].check: expected a check or action name of the service, like api-health',
    ]);
    expect(
      problemsOf(
        withPlaybook(
          `name: p\nmatchers: ['alertname=A']\nservice: payments-api\nactions: [{ action: Restart }]`,
        ),
      ),
    ).toEqual([
      'playbooks[0].actions[0].action: expected a check or action name of the service, like api-health',
    ]);
  });

  it('refuses empty, oversized and repeated playbooks, and bad matchers', () => {
    expect(problemsOf(withPlaybook(`name: p\nmatchers: ['alertname=A']\nservice: payments-api`))).toEqual([
      'playbooks[0].checks: a playbook offers a check or an action',
    ]);
    expect(
      problemsOf(
        withPlaybook(
          `name: p\nmatchers: ['alertname=A']\nservice: payments-api\nchecks: [health, health]\nactions: [${Array(10).fill('restart').join(', ')}]`,
        ),
      ),
    ).toContain('playbooks[0].actions: a playbook offers at most 10 moves (checks and actions), got 12');
    expect(
      problemsOf(
        withPlaybook(`name: p\nmatchers: ['alertname=A']\nservice: payments-api\nchecks: [health, health]`),
      ),
    ).toEqual(['playbooks[0].checks[1]: health is listed twice']);
    expect(
      problemsOf(
        withPlaybook(`name: p\nmatchers: ['alertname=~(']\nservice: payments-api\nchecks: [health]`),
      )[0],
    ).toMatch(/^playbooks\[0\]\.matchers\[0\]: invalid regex/);
  });
});

describe('a playbook’s moves for an incident', () => {
  const config = parseFileConfig(
    'x',
    `${CATALOG}playbooks:
  - name: service-down
    matchers: ['alertname=ServiceDown']
    service: payments-api
    checks: [health]
    actions: [restart, { action: scale, params: { replicas: '{{labels.replicas}}', deployment: '{{labels.deployment}}' } }]
`,
  );
  const scale = config.services['payments-api']!.actions.find((a) => a.name === 'scale')!;

  it('fills params from the labels the alerts share, and checks them as typed ones are', () => {
    expect(fillParams(scale, { replicas: '{{labels.r}}', deployment: 'api' }, { r: '4' })).toEqual({
      ok: true,
      params: { replicas: 4, deployment: 'api', reason: 'playbook' },
    });
    expect(fillParams(scale, { replicas: '{{labels.r}}', deployment: '{{labels.d}}' }, {})).toEqual({
      ok: false,
      problem: "needs the labels `r`, `d`, which this incident's alerts do not share",
    });
    // A label value is as hostile as a typed one: an option where the command takes an argument.
    expect(fillParams(scale, { replicas: '2', deployment: '{{labels.d}}' }, { d: '--all' })).toEqual({
      ok: false,
      problem: 'deployment may not start with "-": the command would take it for an option',
    });
    // Not the prototype's: a label named like an Object method is only a label.
    expect(fillParams(scale, { replicas: '2', deployment: '{{labels.constructor}}' }, {})).toMatchObject({
      ok: false,
    });
  });

  it('draws each move as a button, and tells why one cannot be requested, escaped once', () => {
    const view = playbookView(
      config,
      incident({ alertname: 'ServiceDown', replicas: '<!channel>', deployment: 'api' }),
    )!;
    expect(view.moves.map((m) => [m.label, m.value])).toEqual([
      ['🩺 Check health', '7|check|health'],
      ['🛠️ Request restart', '7|action|restart'],
      ['⚠️ Request scale', '7|action|scale'],
    ]);
    // Raw here: the template escapes it.
    expect(view.problems).toEqual(['scale: replicas must be a whole number, got "<!channel>"']);
  });

  it('quotes only the start of a huge label value it refuses: the click is still answered', () => {
    // Labels are kept whole: one may be a megabyte, and Slack refuses an answer of 40,000 characters.
    const huge = `${'9'.repeat(20)}x${'<'.repeat(100_000)}`;
    const subject = incident({ alertname: 'ServiceDown', replicas: huge, deployment: 'api' });
    let answer = '';
    try {
      chosenMove(config, subject, 'action', 'scale');
    } catch (err) {
      answer = (err as Error).message;
    }
    expect(answer).toMatch(
      /^scale cannot be requested from INC-7's playbook: replicas must be a whole number, got "9{20}x(&lt;)+…"/,
    );
    expect(answer.length).toBeLessThan(400);
  });

  it('refuses a click on a move the playbook no longer offers, or one it cannot fill', () => {
    const subject = incident({ alertname: 'ServiceDown' });
    expect(() => chosenMove(config, subject, 'action', 'rollback')).toThrow(/no longer offers rollback/);
    expect(() => chosenMove(config, subject, 'check', 'restart')).toThrow(/no longer offers restart/);
    expect(() => chosenMove(config, subject, 'action', 'scale')).toThrow(
      /scale cannot be requested from INC-7's playbook: needs the labels `replicas`, `deployment`/,
    );
    expect(chosenMove(config, subject, 'check', 'health').move.kind).toBe('check');
  });
});
