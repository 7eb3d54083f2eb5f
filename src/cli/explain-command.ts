// `mdev-operator explain [<ns>/]<vmi> [-n NS] [-o table|json] [--probe] [--kubeconfig P] [--context C] [--operator-namespace NS]`:
// every node with the verdict and reason a migration of the VMI would get now, from live state
// listed once. Known verdicts come from agents' earlier probe answers; unknown version classes
// are probed only with --probe (which writes MdevProbes that the agents answer).
import { contextNamespace, type KubeConfig } from '../kube/kubeconfig.ts';
import { loggerFor } from '../observability/logger.ts';
import { VERDICT_ORDER } from '../placement/index.ts';
import type { AdmissionDecision } from '../webhook/admission-ports.ts';
import { formatTotals } from '../webhook/denial-message.ts';
import { liveDecider } from '../webhook/live-decider.ts';
import { loadLiveState } from '../webhook/live-view.ts';
import { renderCounts, renderJson, renderTable } from './output/table.ts';
import { UsageError } from './usage-error.ts';
import { kubeConfigFromFlags, kubeconfigUsage, operatorNamespaceUsage, parseReadOnlyFlags } from './flags.ts';

export const EXPLAIN_USAGE = `Usage: mdev-operator explain <namespace>/<vmi> [flags]
       mdev-operator explain <vmi> -n <namespace> [flags]

Every node's verdict and reason for a migration of the VMI now, from the cluster's state listed once.
Verdicts come from the agents' earlier probe answers; a version class no agent answered yet shows as
not verified, and nothing is written to the cluster unless --probe.

  -o, --output table|json  output format (default table)
  --probe                  ask the agents about unknown version classes (creates MdevProbes)
  -n, --namespace NS       the VMI's namespace (default: the context's namespace, else default)
${operatorNamespaceUsage(27)}${kubeconfigUsage(27)}`;

export interface ExplainResult {
  vmi: string;
  sourceNode: string;
  devices: string[];
  target: string | null;
  /** How the target is known: `probe` (confirmed now), `cache` (an earlier probe answer), or null. */
  verifiedBy: 'probe' | 'cache' | null;
  reason: string;
  totals: AdmissionDecision['totals'];
  probes: number;
  nodes: { node: string; verdict: string; message: string }[];
}

export function outputFormat(value: string | undefined): 'table' | 'json' {
  const v = value ?? 'table';
  if (v !== 'table' && v !== 'json') throw new UsageError(`-o/--output must be table or json, got '${v}'`);
  return v;
}

export function renderExplain(r: ExplainResult, format: 'table' | 'json'): string {
  if (format === 'json') return renderJson(r);
  const head = `VMI ${r.vmi} on ${r.sourceNode || '(no node)'}, ${r.devices.length} mediated device${r.devices.length === 1 ? '' : 's'}: ${r.devices.join(', ') || '-'}`;
  const target = r.target ? `Target: ${r.target} (verified by ${r.verifiedBy === 'probe' ? 'a probe now' : 'an earlier probe answer; confirmed again at migration'})` : `No target: ${r.nodes.length > 0 ? `no node is verified compatible (${formatTotals(r.totals)})` : r.reason}`;
  const rows = r.nodes.map((n) => [n.node, n.verdict, n.message]);
  const table = rows.length > 0 ? renderTable(['NODE', 'VERDICT', 'REASON'], rows, { maxCellWidth: 140 }) : '';
  const counts = `${r.nodes.length} node${r.nodes.length === 1 ? '' : 's'}: ${renderCounts(VERDICT_ORDER, r.totals)}; probes sent: ${r.probes}`;
  return `${head}\n${target}\n\n${table}\n${counts}\n${unverifiedHint(r.nodes.map((n) => n.message))}`;
}

/** A footer when some verdicts are unknown because nothing was probed. */
export function unverifiedHint(messages: readonly string[]): string {
  const n = messages.filter((m) => m.includes('not verified')).length;
  return n > 0 ? `${n} ${n === 1 ? 'entry is' : 'entries are'} not verified (no agent answer known for the version class): run with --probe to ask the agents\n` : '';
}

/**
 * The VMI named by `<ns>/<vmi>`, or by `<vmi>` in the namespace of -n, else of the kubeconfig
 * context, else `default` (as kubectl resolves it). The context is read only when needed, so a
 * malformed reference is reported before any kubeconfig problem.
 */
export function vmiRef(positionals: readonly string[], flag: string | undefined, contextNamespace: () => string | undefined): { namespace: string; name: string } {
  const [ref, ...extra] = positionals;
  const m = /^(?:([a-z0-9][a-z0-9-]*)\/)?([a-z0-9][a-z0-9.-]*)$/.exec(ref ?? '');
  if (!m || extra.length > 0) throw new UsageError(`expected exactly one <namespace>/<vmi> or <vmi>, got '${positionals.join(' ')}'`);
  const [, inRef, name] = m as unknown as [string, string | undefined, string];
  if (inRef && flag && inRef !== flag) throw new UsageError(`the VMI ${inRef}/${name} and -n ${flag} name different namespaces; give one of them`);
  return { namespace: inRef ?? flag ?? contextNamespace() ?? 'default', name };
}

export async function explainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseReadOnlyFlags(argv);
  const format = outputFormat(values.output);
  let kc: KubeConfig | undefined;
  const kubeConfig = (): KubeConfig => (kc ??= kubeConfigFromFlags({ kubeconfig: values.kubeconfig, context: values.context }));
  const { namespace, name } = vmiRef(positionals, values.namespace, () => contextNamespace(kubeConfig()));
  const log = loggerFor('explain');
  const state = await loadLiveState(kubeConfig(), values['operator-namespace'], log);
  const vmi = state.vmis.find((v) => v.metadata.namespace === namespace && v.metadata.name === name);
  if (!vmi) {
    process.stderr.write(`mdev-operator explain: VirtualMachineInstance ${namespace}/${name} not found; check the name with \`kubectl get vmi -n ${namespace}\`\n`);
    return 1;
  }
  const devices = state.view.devices.filter((d) => d.status?.consumer?.uid === vmi.metadata.uid).map((d) => d.metadata.name).sort();
  const live = await liveDecider({ kc: kubeConfig(), state, probe: values.probe, log });
  try {
    const d = await live.decider.decide({ vmi, budgetMs: 20_000, probe: values.probe });
    const result: ExplainResult = {
      vmi: `${namespace}/${name}`,
      sourceNode: d.sourceNode || (vmi.status?.nodeName ?? ''),
      devices,
      target: d.chosen?.node ?? null,
      verifiedBy: d.chosen ? (d.unconfirmed ? 'cache' : 'probe') : null,
      reason: d.reason,
      totals: d.totals,
      probes: d.probes,
      nodes: d.explanations.map((e) => ({ node: e.node, verdict: e.verdict, message: e.message })),
    };
    process.stdout.write(renderExplain(result, format));
    return 0;
  } finally {
    await live.stop();
  }
}
