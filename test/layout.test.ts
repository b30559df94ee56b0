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
    tiers: [['commands'], ['approvals'], ['actions'], ['alerts'], ['incidents'], ['health']],
  },
  { layer: 'presentation and ports', tiers: [['views', 'render', 'slack', 'queues', 'db']] },
  { layer: 'ground', tiers: [['observability'], ['primitives']] },
];

type Imports = ReadonlyMap<string, readonly string[]>;

/** Every relative import of every .ts file under `root`, type-only ones too, as paths from `root`. */
function readImports(root: string): Imports {
  const imports = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const found = ts.preProcessFile(readFileSync(path, 'utf8'), true, true).importedFiles;
        imports.set(
          relative(root, path),
          found
            .filter((i) => i.fileName.startsWith('.'))
            .map((i) => relative(root, resolve(dirname(path), i.fileName)).replace(/\.js$/, '.ts')),
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

  it('finds an import into a layer above, naming the files', () => {
    const imports = new Map([
      ['views/incident.ts', ['incidents/incidentStore.ts']],
      ['incidents/incidentStore.ts', []],
    ]);
    expect(layoutProblems(imports)).toEqual([
      'views/incident.ts imports incidents/incidentStore.ts: presentation and ports (views) reaching up into use cases (incidents)',
    ]);
  });

  it('finds a use case importing one listed before it', () => {
    const imports = new Map([
      ['incidents/lifecycle.ts', ['approvals/requests.ts']],
      ['approvals/requests.ts', []],
    ]);
    expect(layoutProblems(imports)).toEqual([
      'incidents/lifecycle.ts imports approvals/requests.ts: use cases (incidents) reaching up into use cases (approvals)',
    ]);
  });

  it('finds folders of one tier in a loop, and files in a loop', () => {
    const imports = new Map([
      ['slack/slackApi.ts', ['render/mrkdwn.ts']],
      ['render/mrkdwn.ts', ['slack/errors.ts']],
      ['slack/errors.ts', []],
      ['db/pool.ts', ['db/migrate.ts']],
      ['db/migrate.ts', ['db/pool.ts']],
    ]);
    expect(layoutProblems(imports)).toEqual([
      'folders in a loop: render, slack (render/mrkdwn.ts → slack/errors.ts; slack/slackApi.ts → render/mrkdwn.ts)',
      'files in a loop: db/migrate.ts, db/pool.ts',
    ]);
  });

  it('names a folder that is in no layer', () => {
    expect(layoutProblems(new Map([['utils/misc.ts', []]]))).toEqual([
      'utils/misc.ts: utils is in no layer of the picture',
    ]);
  });
});
