// Writes docs/api-reference.md from the zod schemas in src/api/v1alpha1, by walking the structural
// CRD schema that buildCrd() derives from them: the reference can then never say something the
// API server does not enforce. `--check` writes nothing and exits 1 when the file is out of date.
//
//   node scripts/gen-api-docs.ts [--check]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCrd } from '../src/api/crd/render.ts';
import type { JsonSchema } from '../src/api/crd/structural.ts';
import type { PrinterColumn } from '../src/api/crd/presentation.ts';
import { API_VERSION, KINDS, type KindName } from '../src/api/v1alpha1/constants.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const API_REFERENCE_PATH = join(REPO_ROOT, 'docs', 'api-reference.md');
const REGENERATE = 'node scripts/gen-api-docs.ts';

type Rule = { rule: string; message?: string; fieldPath?: string };

/** One row of a kind's field table. */
export interface FieldRow {
  path: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
  validation: string[];
}

/** One CEL rule: `self` is the node at `path` ('' for the object root); `fieldPath` is where errors point. */
export interface CelRow {
  path: string;
  rule: string;
  message: string;
  fieldPath?: string;
}

interface CrdVersion {
  additionalPrinterColumns: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
  schema: { openAPIV3Schema: JsonSchema };
}

interface CrdSpec {
  scope: string;
  names: { plural: string; shortNames: string[]; categories: string[] };
  versions: CrdVersion[];
}

const crdSpec = (kind: KindName) => buildCrd(kind).spec as CrdSpec;
const rootSchema = (kind: KindName) => crdSpec(kind).versions[0]!.schema.openAPIV3Schema;
const propsOf = (node: JsonSchema) => (node.properties ?? {}) as Record<string, JsonSchema>;
const rulesOf = (node: JsonSchema) => (node['x-kubernetes-validations'] ?? []) as Rule[];
const requiredOf = (node: JsonSchema) => new Set((node.required ?? []) as string[]);
const isImmutableRule = (r: Rule) => r.rule === 'self == oldSelf';

/** `string`, `string (date-time)`, `[]object`, `map[string]string`; int64 is every integer's format, so not shown. */
export function typeName(node: JsonSchema): string {
  if (node.type === 'array') return `[]${typeName(node.items as JsonSchema)}`;
  if (node.type === 'object' && typeof node.additionalProperties === 'object') {
    return `map[string]${typeName(node.additionalProperties as JsonSchema)}`;
  }
  const format = typeof node.format === 'string' && node.format !== 'int64' ? ` (${node.format})` : '';
  return `${String(node.type)}${format}`;
}

function range(min: unknown, max: unknown, unit: string): string | undefined {
  const lo = typeof min === 'number' ? min : undefined;
  const hi = typeof max === 'number' ? max : undefined;
  if (lo !== undefined && hi !== undefined) return `${unit} ${lo}–${hi}`;
  if (hi !== undefined) return `${unit} ≤ ${hi}`;
  if (lo !== undefined) return `${unit} ≥ ${lo}`;
  return undefined;
}

/** What the API server checks on this one node, in words (Markdown, table-safe); CEL rules by their messages. */
export function constraintsOf(node: JsonSchema): string[] {
  const out: string[] = [];
  if (Array.isArray(node.enum)) out.push(`one of ${node.enum.map((v) => code(String(v))).join(', ')}`);
  const length = range(node.minLength, node.maxLength, 'length');
  if (length) out.push(length);
  const value = range(node.minimum, node.maximum, 'value');
  if (value) out.push(value);
  const items = range(node.minItems, node.maxItems, 'items');
  if (items) out.push(items);
  if (typeof node.pattern === 'string') out.push(`pattern ${code(node.pattern)}`);
  if (node['x-kubernetes-list-type'] === 'map') {
    out.push(`list map keyed by ${((node['x-kubernetes-list-map-keys'] ?? []) as string[]).map(code).join(', ')}`);
  } else if (node['x-kubernetes-list-type'] === 'set') {
    out.push('unique items (set)');
  }
  for (const r of rulesOf(node)) {
    if (isImmutableRule(r)) out.push('immutable');
    else out.push(`${r.message ? cell(r.message) : code(r.rule)}${r.fieldPath ? ` (reported on ${code(r.fieldPath.replace(/^\./, ''))})` : ''}`);
  }
  return out;
}

function arrayConstraints(node: JsonSchema): string[] {
  const item = constraintsOf(node.items as JsonSchema);
  return [...constraintsOf(node), ...(item.length > 0 ? [`each item: ${item.join('; ')}`] : [])];
}

function collectRows(node: JsonSchema, path: string, required: boolean, rows: FieldRow[]): void {
  const isArray = node.type === 'array';
  rows.push({
    path,
    type: typeName(node),
    required,
    ...('default' in node ? { default: node.default } : {}),
    description: String(node.description ?? ''),
    validation: isArray ? arrayConstraints(node) : constraintsOf(node),
  });
  // Arrays of scalars are one row (their item rules are folded in); arrays of objects list the
  // item's fields under `path[]`.
  const holder = isArray ? (node.items as JsonSchema) : node;
  const prefix = isArray ? `${path}[]` : path;
  const req = requiredOf(holder);
  for (const [name, child] of Object.entries(propsOf(holder))) collectRows(child, `${prefix}.${name}`, req.has(name), rows);
}

/** The field table of a kind: spec and status and everything under them, in schema order. */
export function fieldRows(kind: KindName): FieldRow[] {
  const root = rootSchema(kind);
  const req = requiredOf(root);
  const rows: FieldRow[] = [];
  for (const top of ['spec', 'status']) {
    const node = propsOf(root)[top];
    if (node) collectRows(node, top, req.has(top), rows);
  }
  return rows;
}

/** Every CEL rule of a kind, where it is declared: the object root first (path ''), then spec and status. */
export function celRows(kind: KindName): CelRow[] {
  const rows: CelRow[] = [];
  const visit = (node: JsonSchema, path: string) => {
    for (const r of rulesOf(node)) {
      rows.push({ path, rule: r.rule, message: r.message ?? '', ...(r.fieldPath ? { fieldPath: joinPath(path, r.fieldPath) } : {}) });
    }
    for (const [name, child] of Object.entries(propsOf(node))) {
      if (path === '' && name !== 'spec' && name !== 'status') continue;
      visit(child, joinPath(path, name));
    }
    if (node.items) visit(node.items as JsonSchema, `${path}[]`);
  };
  visit(rootSchema(kind), '');
  return rows;
}

/** `spec` + `.id` -> `spec.id`; '' + `.spec.nodeName` -> `spec.nodeName`. */
function joinPath(base: string, child: string): string {
  const rest = child.replace(/^\./, '');
  return base === '' ? rest : `${base}.${rest}`;
}

// --- Markdown ------------------------------------------------------------------------------------

/** A code span that survives a GFM table cell (pipes escaped) and any backticks inside. */
function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text.replaceAll('|', '\\|')}${pad}${fence}`;
}

/** Plain text for a table cell: no line breaks, no pipes, no HTML. */
function cell(text: string): string {
  return text.replaceAll('\n', ' ').replaceAll('|', '\\|').replaceAll('<', '&lt;');
}

function table(header: string[], rows: string[][]): string[] {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

const anchor = (kind: KindName) => kind.toLowerCase();

function overview(kind: KindName): string[] {
  const spec = crdSpec(kind);
  const selectable = (spec.versions[0]!.selectableFields ?? []).map((f) => f.jsonPath);
  return table(
    ['Property', 'Value'],
    [
      ['API version', code(API_VERSION)],
      ['Scope', spec.scope],
      ['Plural', code(spec.names.plural)],
      ['Short name', spec.names.shortNames.map(code).join(', ')],
      ['Categories', spec.names.categories.map(code).join(', ')],
      ['Subresources', code('status')],
      ['Field selectors', selectable.length > 0 ? selectable.map(code).join(', ') : 'none'],
    ],
  );
}

function columns(kind: KindName): string[] {
  const cols = crdSpec(kind).versions[0]!.additionalPrinterColumns;
  return table(
    ['Column', 'JSONPath', 'Type', 'Shown', 'Description'],
    cols.map((c) => [cell(c.name.toUpperCase()), code(c.jsonPath), c.type, c.priority ? code('-o wide') : 'always', cell(c.description)]),
  );
}

function fields(kind: KindName): string[] {
  return table(
    ['Field', 'Type', 'Required', 'Default', 'Description', 'Validation'],
    fieldRows(kind).map((r) => [
      code(r.path),
      code(r.type),
      r.required ? 'yes' : '',
      'default' in r ? code(JSON.stringify(r.default)) : '',
      cell(r.description),
      r.validation.join('<br>'),
    ]),
  );
}

function celSection(kind: KindName): string[] {
  const rows = celRows(kind).filter((r) => !isImmutableRule(r));
  if (rows.length === 0) return [];
  return [
    '',
    `### ${kind} validation rules (CEL)`,
    '',
    'Checked by the API server on every write. `self` is the field in the first column; fields marked',
    '*immutable* above also carry `self == oldSelf`.',
    '',
    ...table(
      ['self', 'Rule', 'Message'],
      rows.map((r) => [
        r.path ? code(r.path) : '(the object)',
        code(r.rule),
        `${cell(r.message)}${r.fieldPath ? ` (reported on ${code(r.fieldPath)})` : ''}`,
      ]),
    ),
  ];
}

function kindSection(kind: KindName): string[] {
  const root = rootSchema(kind);
  const spec = crdSpec(kind);
  return [
    `## ${kind}`,
    '',
    cell(String(root.description ?? '')),
    '',
    ...overview(kind),
    '',
    `### ${kind} printer columns`,
    '',
    `\`kubectl get ${spec.names.shortNames[0]}\` shows the columns marked *always*; \`-o wide\` adds the others.`,
    '',
    ...columns(kind),
    '',
    `### ${kind} fields`,
    '',
    'Besides the standard `apiVersion`, `kind` and `metadata`.',
    '',
    ...fields(kind),
    ...celSection(kind),
    '',
  ];
}

/** The whole of docs/api-reference.md, exactly as the generator writes it. */
export function renderApiReference(): string {
  const lines = [
    '<!-- Generated by `node scripts/gen-api-docs.ts` from the zod schemas in src/api/v1alpha1 (through the',
    '     CRDs that src/api/crd/render.ts builds). Do not edit: change the schemas and regenerate. -->',
    `# API reference: \`${API_VERSION}\``,
    '',
    'The operator\'s custom resources. Every field, type, default and validation rule below is taken from',
    'the same structural schema the API server enforces (`crds/`), so `kubectl explain <kind>.<field>`',
    'shows the same descriptions. `kubectl get mdev-operator` lists objects of every kind (the category).',
    '',
    ...KINDS.map((k) => `- [${k}](#${anchor(k)}): ${cell(String(rootSchema(k).description ?? ''))}`),
    '',
    'Field paths use `[]` for "every item of the list". *Required* is relative to the enclosing object:',
    'a required field of an optional object is required only when that object is present.',
    '',
    ...KINDS.flatMap(kindSection),
  ];
  return `${lines.join('\n').replace(/\n+$/, '')}\n`;
}

/** Why `path` differs from the generated reference, or undefined when it is current. */
export function staleness(path: string = API_REFERENCE_PATH): string | undefined {
  const where = relative(REPO_ROOT, path) || path;
  if (!existsSync(path)) return `${where} is missing: run ${REGENERATE}`;
  if (readFileSync(path, 'utf8') !== renderApiReference()) return `${where} is out of date: run ${REGENERATE}`;
  return undefined;
}

function main(argv: readonly string[]): number {
  if (argv.includes('--check')) {
    const problem = staleness();
    if (problem) console.error(problem);
    return problem ? 1 : 0;
  }
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length > 0) {
    console.error(`gen-api-docs: unknown argument ${unknown[0]}; usage: ${REGENERATE} [--check]`);
    return 2;
  }
  const changed = staleness() !== undefined;
  writeFileSync(API_REFERENCE_PATH, renderApiReference());
  console.log(`Wrote ${relative(REPO_ROOT, API_REFERENCE_PATH)} (${changed ? 'changed' : 'unchanged'}).`);
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
