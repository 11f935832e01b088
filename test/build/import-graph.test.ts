/**
 * The layering a reader relies on: the core (`src/`) imports nothing from the adapters or the
 * client, adapters never import the client, and no module imports itself through others (an import
 * circle). Type-only imports count: a circle of types still ties the modules together.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const LAYERS = ['src', 'adapters', 'client'] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

/** Each module (path from the repo root) → the modules of ours it imports. */
function importGraph(): Map<string, string[]> {
  const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowImportingTsExtensions: true };
  const host = ts.createCompilerHost(options);
  const graph = new Map<string, string[]>();
  for (const file of LAYERS.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true);
    const targets = importedFiles
      .map(({ fileName }) => ts.resolveModuleName(fileName, join(root, file), options, host).resolvedModule)
      .filter((m): m is ts.ResolvedModuleFull => m !== undefined && !m.isExternalLibraryImport)
      .map((m) => relative(root, m.resolvedFileName));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components of more than one module (Tarjan), or a module importing itself. */
function circles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the import graph', () => {
  const graph = importGraph();
  const arrows = [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })));
  const layerOf = (path: string) => path.split('/')[0];

  it('reads every module of the three layers', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get('src/engine.ts')).toContain('src/errors.ts');
  });

  it('has no arrow from the core into the adapters or the client', () => {
    expect(arrows.filter(({ from, to }) => layerOf(from) === 'src' && layerOf(to) !== 'src')).toEqual([]);
  });

  it('has no arrow from an adapter into the client', () => {
    expect(arrows.filter(({ from, to }) => layerOf(from) === 'adapters' && layerOf(to) === 'client')).toEqual([]);
  });

  it('has no import circle', () => {
    expect(circles(graph)).toEqual([]);
  });
});
