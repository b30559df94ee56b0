import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The picture of README's "Where things are" and DESIGN.md, top to bottom. A part is a folder of src/
 * or a file at its root. A part may import parts of its own tier or below, never above, and no two
 * parts (or files) may import each other round a loop. The use cases each have a tier of their own:
 * a use case imports only those listed after it.
 */
const LAYERS: ReadonlyArray<{ layer: string; tiers: ReadonlyArray<readonly string[]> }> = [
  { layer: 'composition root', tiers: [['main.ts', 'app.ts', 'shutdown.ts']] },
  { layer: 'entry points', tiers: [['cli', 'sandbox', 'http', 'listeners', 'workers', 'config']] },
  {
    layer: 'use cases',
    tiers: [
      ['commands'],
      ['silences'],
      ['escalation'],
      ['paging'],
      ['playbooks'],
      ['approvals'],
      ['actions'],
      ['alerts'],
      ['incidents'],
      ['health'],
    ],
  },
  {
    layer: 'presentation and ports',
    tiers: [['views', 'render', 'slack', 'alertmanager', 'pagers', 'queues', 'db']],
  },
  { layer: 'ground', tiers: [['observability'], ['primitives']] },
];

type Imports = ReadonlyMap<string, readonly string[]>;

/** What an `import()` of a computed name imports: unknown, so refused. */
const COMPUTED = '(a computed name)';

/**
 * Every module a file names: imports and re-exports (`export * as ns` too), `import type`, `import()`
 * and `typeof import()`, read from the syntax tree rather than guessed from the text.
 */
function specifiersOf(file: string, text: string): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [name] = node.arguments;
      found.push(name && ts.isStringLiteralLike(name) ? name.text : COMPUTED);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) found.push(literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return found;
}

/** Every relative import of every .ts file under `root`, type-only ones too, as paths from `root`. */
function readImports(root: string): Imports {
  const imports = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        imports.set(
          relative(root, path),
          specifiersOf(path, readFileSync(path, 'utf8'))
            .filter((name) => name.startsWith('.') || name === COMPUTED)
            .map((name) =>
              name === COMPUTED ? name : relative(root, resolve(dirname(path), name)).replace(/\.js$/, '.ts'),
            ),
        );
      }
    }
  };
  walk(root);
  return imports;
}

const partOf = (file: string) => file.split('/')[0]!;

/** Groups of nodes that reach one another (Tarjan's strongly connected components), largest first. */
function loops(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (stack.includes(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) === index.get(node)) {
      const group = stack.splice(stack.indexOf(node));
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return found.sort((a, b) => b.length - a.length);
}

/** What breaks the picture, one line each, naming the files. */
function layoutProblems(imports: Imports): string[] {
  const tierOf = new Map(
    LAYERS.flatMap(({ layer, tiers }) => tiers.map((tier) => ({ layer, tier }))).flatMap(
      ({ layer, tier }, rank) => tier.map((part) => [part, { rank, layer }] as const),
    ),
  );
  const problems: string[] = [];
  const partEdges = new Map<string, Set<string>>();
  const fileEdges = new Map<string, Set<string>>();
  const because = new Map<string, string>();
  for (const [file, targets] of imports) {
    const from = tierOf.get(partOf(file));
    if (!from) problems.push(`${file}: ${partOf(file)} is in no layer of the picture`);
    fileEdges.set(file, new Set(targets));
    for (const target of targets) {
      if (target === COMPUTED) {
        problems.push(`${file}: import() of ${COMPUTED}, which this test cannot follow`);
        continue;
      }
      if (target.startsWith('..')) {
        problems.push(`${file} imports ${target}, outside src/`);
        continue;
      }
      const [a, b] = [partOf(file), partOf(target)];
      if (a === b) continue;
      const to = tierOf.get(b);
      if (from && to && to.rank < from.rank)
        problems.push(`${file} imports ${target}: ${from.layer} (${a}) reaching up into ${to.layer} (${b})`);
      partEdges.set(a, (partEdges.get(a) ?? new Set()).add(b));
      because.set(`${a}>${b}`, `${file} → ${target}`);
    }
  }
  for (const group of loops(partEdges)) {
    const ties = group.flatMap((a) => group.map((b) => because.get(`${a}>${b}`) ?? [])).flat();
    problems.push(`folders in a loop: ${group.join(', ')} (${ties.join('; ')})`);
  }
  for (const group of loops(fileEdges)) problems.push(`files in a loop: ${group.join(', ')}`);
  return problems;
}

describe('the layout of src/', () => {
  it('has every import point down: no part reaches into a layer above, no loop of folders or files', () => {
    expect(layoutProblems(readImports(resolve(import.meta.dirname, '../src')))).toEqual([]);
  });

  it.each([
    [
      'an import into a layer above, naming the files',
      [
        ['views/incident.ts', ['incidents/incidentStore.ts']],
        ['incidents/incidentStore.ts', []],
      ],
      [
        'views/incident.ts imports incidents/incidentStore.ts: presentation and ports (views) reaching up into use cases (incidents)',
      ],
    ],
    [
      'a use case importing one listed before it',
      [
        ['incidents/lifecycle.ts', ['approvals/requests.ts']],
        ['approvals/requests.ts', []],
      ],
      [
        'incidents/lifecycle.ts imports approvals/requests.ts: use cases (incidents) reaching up into use cases (approvals)',
      ],
    ],
    [
      'folders of one tier in a loop, and files in a loop',
      [
        ['slack/slackApi.ts', ['render/mrkdwn.ts']],
        ['render/mrkdwn.ts', ['slack/errors.ts']],
        ['slack/errors.ts', []],
        ['db/pool.ts', ['db/migrate.ts']],
        ['db/migrate.ts', ['db/pool.ts']],
      ],
      [
        'folders in a loop: render, slack (render/mrkdwn.ts → slack/errors.ts; slack/slackApi.ts → render/mrkdwn.ts)',
        'files in a loop: db/migrate.ts, db/pool.ts',
      ],
    ],
    [
      'a folder that is in no layer',
      [['utils/misc.ts', []]],
      ['utils/misc.ts: utils is in no layer of the picture'],
    ],
    [
      'an import it cannot follow, or one out of src/',
      [['sandbox/sandbox.ts', [COMPUTED, '../test/support/services.ts']]],
      [
        'sandbox/sandbox.ts: import() of (a computed name), which this test cannot follow',
        'sandbox/sandbox.ts imports ../test/support/services.ts, outside src/',
      ],
    ],
  ] as Array<[string, Array<[string, string[]]>, string[]]>)('finds %s', (_, imports, problems) => {
    expect(layoutProblems(new Map(imports))).toEqual(problems);
  });

  it('reads every way a file can name another', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from '../b/b.js';",
      "export * from './c.js';",
      "export * as d from './d.js';",
      "export type * as e from './e.js';",
      "const f = await import('./f.js');",
      "type G = typeof import('./g.js');",
      'const h = await import(name);',
      "import pg from 'pg';",
    ].join('\n');
    expect(specifiersOf('x.ts', text)).toEqual([
      './a.js',
      '../b/b.js',
      './c.js',
      './d.js',
      './e.js',
      './f.js',
      './g.js',
      COMPUTED,
      'pg',
    ]);
  });
});
