// The demo's ending: which VMI moved where and what it cost in probes against the exhaustive
// search, and the checks `--once` asserts (each names what it expected and what happened). Pure:
// plain StoryResult in, text and verdicts out.
import { renderCounts, renderTable } from '../../src/cli/output/table.ts';
import { VERDICT_ORDER } from '../../src/placement/index.ts';
import type { EvictionOutcome, MigrationOutcome, StoryResult } from './story.ts';

export interface Check {
  name: string;
  ok: boolean;
  /** What was expected, and what happened when it did not. */
  detail: string;
}

export function checkOutcomes(r: StoryResult): Check[] {
  const s = r.scenario;
  const checks: Check[] = [];
  const add = (name: string, ok: boolean, expected: string, got: string): void => {
    checks.push({ name, ok, detail: ok ? expected : `expected ${expected}; got ${got}` });
  };

  const a = r.succeed;
  add(`(a) ${a.name} succeeded`, a.phase === 'Succeeded' && a.targetNode === s.succeed.expectedTarget && a.vmiNode === s.succeed.expectedTarget,
    `Succeeded with ${s.succeed.vmi} on ${s.succeed.expectedTarget}`, `${a.phase}, target ${a.targetNode ?? '-'}, VMI on ${a.vmiNode ?? '-'} (${a.message ?? ''})`);

  const b = r.fail;
  const bWrong = wrongVerdicts(s.fail.expectedVerdicts, b);
  const compatible = b.candidates.filter((x) => x.verdict === 'Compatible').map((x) => x.node);
  add(`(b) ${b.name} failed and says why`, b.phase === 'Failed' && bWrong.length === 0 && compatible.length === 0 && /no node can take/.test(b.message ?? ''),
    `Failed ("no node can take ...") with ${verdictCounts(s.fail.expectedVerdicts)}`,
    `${b.phase} (${b.message ?? ''}); ${bWrong.join(', ') || 'verdicts as expected'}${compatible.length ? `; Compatible: ${compatible.join(', ')}` : ''}`);

  const c = r.evict;
  const rec = c.recorded;
  const cWrong = rec ? wrongVerdicts(s.evict.expectedVerdicts, rec) : [];
  const onlyOne = c.vmimsOfVmi.length === 1 && c.vmimsOfVmi[0] === c.vmim;
  add(`(c) VMIM ${c.vmim} steered to a verified node`,
    c.pinnedNode === s.evict.expectedTarget && rec?.targetNode === c.pinnedNode && rec.phase === 'Succeeded' && cWrong.length === 0 && c.vmimPhase === 'Succeeded' && c.vmiNode === c.pinnedNode && onlyOne,
    `pinned to ${s.evict.expectedTarget}, recorded MdevMigration Succeeded with ${verdictCounts(s.evict.expectedVerdicts)}, VMI there, no other VMIM`,
    c.refusal
      ? `refused: ${c.refusal}`
      : `pinned ${c.pinnedNode ?? '-'}, recorded ${rec ? `${rec.name} ${rec.phase} → ${rec.targetNode ?? '-'} (${cWrong.join(', ') || 'verdicts as expected'})` : 'no MdevMigration'}, VMIM ${c.vmimPhase ?? '-'}, VMI on ${c.vmiNode ?? '-'}, VMIMs of ${s.evict.vmi}: ${c.vmimsOfVmi.join(', ') || 'none'}`);

  const rows = new Map(r.drain.vmis.map((v) => [v.vmi.split('/')[1] ?? v.vmi, v.target]));
  const mismatched = Object.entries(s.drain.expected).filter(([vmi, target]) => !rows.has(vmi) || rows.get(vmi) !== target);
  add(`(d) plan-drain ${s.drain.node}`, mismatched.length === 0 && rows.size === Object.keys(s.drain.expected).length,
    Object.entries(s.drain.expected).map(([vmi, t]) => `${vmi} → ${t ?? 'BLOCKED'}`).join(', '),
    [...rows].map(([vmi, t]) => `${vmi} → ${t ?? 'BLOCKED'}`).join(', ') || 'no rows');
  return checks;
}

/** `node: got (expected X)` for every node whose verdict differs from the expected one. */
function wrongVerdicts(expected: Record<string, string>, m: MigrationOutcome): string[] {
  return Object.entries(expected).flatMap(([node, want]) => {
    const got = m.candidates.find((x) => x.node === node)?.verdict;
    return got === want ? [] : [`${node}: ${got ?? 'absent'} (expected ${want})`];
  });
}

/** `1 Compatible, 3 TypeMismatch` for expected verdicts, in the controller's verdict order. */
export function verdictCounts(expected: Record<string, string>): string {
  const counts: Record<string, number> = {};
  for (const v of Object.values(expected)) counts[v] = (counts[v] ?? 0) + 1;
  return renderCounts([...VERDICT_ORDER, ...Object.keys(counts).filter((v) => !(VERDICT_ORDER as readonly string[]).includes(v))], counts);
}

function moveRow(r: StoryResult, vmiName: string, how: string, m: MigrationOutcome | undefined, e?: EvictionOutcome): string[] {
  const vmi = `${r.scenario.namespace}/${vmiName}`;
  const from = r.scenario.vms.find((v) => v.name === vmiName)?.node ?? m?.sourceNode ?? '-';
  const moved = m?.phase === 'Succeeded' || e?.vmimPhase === 'Succeeded';
  const to = moved ? (m?.vmiNode ?? e?.vmiNode ?? '-') : 'stays';
  const result = e?.refusal ? 'refused' : m ? m.phase : '-';
  return [vmi, from, to, how, result, String(m?.probes ?? 0), String(m?.exhaustiveProbes ?? e?.exhaustiveProbes ?? 0)];
}

export function renderSummary(r: StoryResult): string {
  const s = r.scenario;
  const rows = [
    moveRow(r, s.succeed.vmi, `MdevMigration ${r.succeed.name}`, r.succeed),
    moveRow(r, s.fail.vmi, `MdevMigration ${r.fail.name}`, r.fail),
    moveRow(r, s.evict.vmi, `VMIM ${r.evict.vmim} (webhook: ${r.evict.recorded?.name ?? 'no record'})`, r.evict.recorded, r.evict),
  ];
  const spent = r.succeed.probes + r.fail.probes + (r.evict.recorded?.probes ?? 0);
  const exhaustive = r.succeed.exhaustiveProbes + r.fail.exhaustiveProbes + r.evict.exhaustiveProbes;
  const table = renderTable(['VMI', 'FROM', 'TO', 'HOW', 'RESULT', 'PROBES', 'EXHAUSTIVE'], rows, { maxCellWidth: 80 });
  const drain = `plan-drain ${s.drain.node}: ${r.drain.vmis.map((v) => `${v.vmi.split('/')[1]} → ${v.target ?? 'BLOCKED'}`).join(', ')}`;
  const saving = exhaustive > 0 ? ` (${Math.round((100 * (exhaustive - spent)) / exhaustive)}% fewer)` : '';
  return [
    `Summary (story finished ${r.seconds.toFixed(1)}s after start)`,
    '',
    table.trimEnd(),
    '',
    `Probes sent: ${spent}; an exhaustive search (every free device of every candidate node) would have sent ${exhaustive}${saving}.`,
    drain,
    '',
    '',
  ].join('\n');
}

export function renderChecks(checks: readonly Check[]): string {
  return checks.map((c) => `  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`).join('\n') + '\n';
}
