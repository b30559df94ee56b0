#!/usr/bin/env node
// The sandbox's stand-in for kubectl: it prints what kubectl would do and touches nothing, so the demo
// actions in config/sandbox.yml run on any laptop. It takes only the commands those actions use.
const USAGE = `usage: fake-kubectl.mjs
  scale deployment/<name> --namespace=<ns> --replicas=<n> [--dry-run=server]
  set env deployment/<name> --namespace=<ns> NAME=value… [--dry-run=server]
  rollout restart deployment/<name> --namespace=<ns>`;

function fail(message) {
  process.stderr.write(`error: ${message}\n${USAGE}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
const flags = new Map();
const words = [];
for (const arg of args) {
  const flag = /^--([a-z-]+)=(.*)$/.exec(arg);
  if (flag) flags.set(flag[1], flag[2]);
  else words.push(arg);
}
const dryRun = flags.get('dry-run') === 'server';
const namespace = flags.get('namespace');
if (!namespace) fail('--namespace is required');

const [verb, ...rest] = words;
const target = (word) => {
  const match = /^deployment\/([a-z0-9-]+)$/.exec(word ?? '');
  if (!match) fail(`expected deployment/<name>, got ${JSON.stringify(word ?? '')}`);
  return match[1];
};
const suffix = dryRun ? ' (server dry run)' : '';
const lines = [`$ kubectl ${args.join(' ')}`];

if (verb === 'scale') {
  const name = target(rest[0]);
  const replicas = flags.get('replicas');
  if (!/^[1-9]\d*$/.test(replicas ?? '')) fail('--replicas must be a whole number above 0');
  lines.push(`deployment.apps/${name} scaled${suffix}`);
  if (!dryRun) lines.push(`${namespace}/${name}: ${replicas} replicas requested`);
} else if (verb === 'set' && rest[0] === 'env') {
  const name = target(rest[1]);
  const vars = rest.slice(2);
  if (vars.length === 0 || !vars.every((v) => /^[A-Z_][A-Z0-9_]*=.*$/.test(v))) fail('expected NAME=value…');
  lines.push(`deployment.apps/${name} env updated${suffix}`);
  if (!dryRun) lines.push(`${namespace}/${name}: rolling restart with ${vars.join(' ')}`);
} else if (verb === 'rollout' && rest[0] === 'restart') {
  const name = target(rest[1]);
  lines.push(`deployment.apps/${name} restarted${suffix}`);
} else {
  fail(`unknown command ${JSON.stringify(words.join(' '))}`);
}
lines.push('(sandbox: printed by config/sandbox/fake-kubectl.mjs; no cluster was touched)');
process.stdout.write(`${lines.join('\n')}\n`);
