// The import graph of src/ and dev/ and the rule it must follow. The rule is the "Import direction"
// table of docs/architecture.md, read from there so the document and the check cannot disagree:
// each row names a unit (a top-level folder such as `src/kube`, or a top-level file such as
// `dev/cli.ts`), the units and single modules it may import, and which package.json groups.
// Imports inside one unit are always allowed. The TypeScript parser reads every import form:
// static, type-only, re-exports, `import()` expressions and `import('x').T` type references.
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, posix } from 'node:path';
import ts from 'typescript';

export type ImportKind = 'static' | 'dynamic' | 'type-query';

/** One import of one file; `target` is repo-relative (posix) for relative specifiers, else the package name. */
export interface ImportEdge {
  from: string;
  line: number;
  specifier: string;
  kind: ImportKind;
  /** undefined for an `import()` whose argument is not a string literal: it cannot be checked. */
  target: string | undefined;
  local: boolean;
  /** `import type {…}` / `export type {…}`: erased when the code runs, so it loads nothing. */
  typeOnly: boolean;
}

export interface LayerRule {
  /** `src/kube` or `dev/cli.ts`. */
  unit: string;
  /** Units (`src/api`), whole trees (`src/*`) or single modules (`src/controller/services.ts`). */
  mayImport: string[];
  packageGroups: string[];
}

/** The package a bare specifier names: `@scope/name/sub` → `@scope/name`, `node:fs` → `node:fs`. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** Every import in one file's text; `file` is the repo-relative posix path. */
export function importsOfText(file: string, text: string): ImportEdge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: ImportEdge[] = [];
  const add = (node: ts.Node, specifier: string | undefined, kind: ImportKind, typeOnly = kind === 'type-query'): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    if (specifier === undefined) {
      out.push({ from: file, line, specifier: node.getText(source), kind, target: undefined, local: true, typeOnly });
      return;
    }
    const local = specifier.startsWith('.');
    const target = local ? posix.normalize(posix.join(posix.dirname(file), specifier)) : packageOf(specifier);
    out.push({ from: file, line, specifier, kind, target, local, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      // Only a whole clause marked `type` is erased; `import { type A } from 'x'` still loads x.
      const typeOnly = ts.isImportDeclaration(node) ? node.importClause?.isTypeOnly === true : node.isTypeOnly;
      add(node, node.moduleSpecifier.text, 'static', typeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      add(node, arg && ts.isStringLiteralLike(arg) ? arg.text : undefined, 'dynamic');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node, node.argument.literal.text, 'type-query');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

function tsFiles(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(root, rel);
    return e.name.endsWith('.ts') ? [rel] : [];
  });
}

/** The import graph of every .ts file under `dirs` (repo-relative). */
export function readImportGraph(root: string, dirs: readonly string[]): ImportEdge[] {
  return dirs.flatMap((d) => tsFiles(root, d)).flatMap((f) => importsOfText(f, readFileSync(join(root, f), 'utf8')));
}

/** `src/kube/informer.ts` → `src/kube`; a top-level file is its own unit: `dev/cli.ts`. */
export function unitOf(file: string): string {
  const [top, second] = file.split('/');
  return `${top}/${second}`;
}

/** The units under src/ and dev/ as they are on disk (folders, and top-level files). */
export function unitsOnDisk(root: string, dirs: readonly string[]): string[] {
  return dirs.flatMap((d) => readdirSync(join(root, d), { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.name.endsWith('.ts'))
    .map((e) => `${d}/${e.name}`));
}

const CODE = /`([^`]+)`/g;
const codes = (cell: string): string[] => [...cell.matchAll(CODE)].map((m) => m[1] as string);

/** The rows of the table under the `### Import direction` heading. */
export function parseLayerRules(markdown: string): LayerRule[] {
  const at = markdown.indexOf('### Import direction');
  if (at < 0) throw new Error('docs/architecture.md has no "### Import direction" section: the import rule is defined there');
  const rules: LayerRule[] = [];
  const lines = markdown.slice(at).split('\n').slice(1);
  for (const line of lines) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|') || /^\|\s*-/.test(line)) continue;
    const [units = '', may = '', groups = ''] = line.split('|').slice(1, -1);
    const unitNames = codes(units);
    if (unitNames.length === 0) continue; // the header row
    for (const unit of unitNames) rules.push({ unit, mayImport: codes(may), packageGroups: codes(groups) });
  }
  if (rules.length === 0) throw new Error('the "Import direction" table of docs/architecture.md has no rows');
  return rules;
}

function allowsLocal(rule: LayerRule, target: string): boolean {
  return rule.mayImport.some((a) => {
    if (a.endsWith('/*')) return target.startsWith(a.slice(0, -1));
    if (a.endsWith('.ts')) return target === a;
    return unitOf(target) === a;
  });
}

/** Every edge the rules forbid, as readable lines (empty = the graph follows the rule). */
export function forbiddenEdges(edges: readonly ImportEdge[], rules: readonly LayerRule[], packageGroups: Record<string, readonly string[]>): string[] {
  const byUnit = new Map(rules.map((r) => [r.unit, r]));
  const out: string[] = [];
  const unruled = new Set<string>();
  for (const e of edges) {
    const where = `${e.from}:${e.line}`;
    const rule = byUnit.get(unitOf(e.from));
    if (!rule) {
      if (!unruled.has(unitOf(e.from))) out.push(`${where}: ${unitOf(e.from)} has no row in the Import direction table of docs/architecture.md`);
      unruled.add(unitOf(e.from));
    } else if (e.target === undefined) {
      out.push(`${where}: import(${e.specifier.replace(/^import\(|\)$/g, '')}) has no literal specifier, so its target cannot be checked`);
    } else if (e.local) {
      if (unitOf(e.target) !== rule.unit && !allowsLocal(rule, e.target)) out.push(`${where}: ${rule.unit} may not import ${e.target} (allowed: ${rule.mayImport.join(', ') || 'nothing of ours'})`);
    } else if (!e.target.startsWith('node:') && !isBuiltin(e.target)) {
      const ok = rule.packageGroups.some((g) => packageGroups[g]?.includes(e.target as string));
      if (!ok) out.push(`${where}: ${rule.unit} may not import the package ${e.target} (only ${rule.packageGroups.join(', ')} of package.json)`);
    }
  }
  return out;
}

/**
 * Every module that loading `entries` loads at once: static imports that are not type-only, followed
 * through local files (`import()` expressions load later, on demand, and are not followed). Local
 * modules as repo-relative paths, packages by name.
 */
export function loadedAtStart(root: string, entries: readonly string[]): Set<string> {
  const loaded = new Set<string>();
  const pending = [...entries];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (loaded.has(file)) continue;
    loaded.add(file);
    for (const e of importsOfText(file, readFileSync(join(root, file), 'utf8'))) {
      if (e.kind !== 'static' || e.typeOnly || e.target === undefined) continue;
      if (!e.local) loaded.add(e.target);
      else pending.push(e.target);
    }
  }
  return loaded;
}

/** The package names of each dependency group of a package.json. */
export function packageGroupsOf(packageJson: { dependencies?: object; devDependencies?: object }): Record<string, string[]> {
  return { dependencies: Object.keys(packageJson.dependencies ?? {}), devDependencies: Object.keys(packageJson.devDependencies ?? {}) };
}
