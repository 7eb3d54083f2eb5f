// `mdev-operator plan-drain <node> [-o table|json] [--probe] [--kubeconfig P] [--context C] [--operator-namespace NS]`:
// before anyone runs `kubectl drain`, the target every VMI with mediated devices on the node would
// get, or why none exists. Read only: nothing is reserved, and nothing is probed unless --probe.
// The plan is computed by plan-drain.ts (which the demo uses too); this module parses and renders.
import { NODES } from '../controller/resources.ts';
import { isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { outputFormat, unverifiedHint } from './explain-command.ts';
import { renderCounts, renderJson, renderTable } from './output/table.ts';
import { planDrain, type DrainPlan } from './plan-drain.ts';
import { UsageError } from './usage-error.ts';
import { kubeConfigFromFlags, kubeconfigUsage, operatorNamespaceUsage, parseReadOnlyFlags } from './flags.ts';

export type { DrainEntry, DrainPlan } from './plan-drain.ts';

export const PLAN_DRAIN_USAGE = `Usage: mdev-operator plan-drain <node> [flags]

Before \`kubectl drain <node>\`: the target every VMI with mediated devices on the node would get, or
why it has none (BLOCKED), each VMI planned after the ones before it took their targets. Read only:
nothing is reserved, and nothing is written unless --probe.

  -o, --output table|json  output format (default table)
  --probe                  ask the agents about unknown version classes (creates MdevProbes)
${operatorNamespaceUsage(27)}${kubeconfigUsage(27)}`;

export interface DrainTableOptions {
  /** Clip REASON cells to this width (default 160; the demo uses less to fit a terminal). */
  maxCellWidth?: number;
}

export function renderDrainPlan(plan: DrainPlan, format: 'table' | 'json', opts: DrainTableOptions = {}): string {
  if (format === 'json') return renderJson(plan);
  const head = `Drain plan for node ${plan.node}: ${plan.vmis.length} VMI${plan.vmis.length === 1 ? '' : 's'} with mediated devices`;
  if (plan.vmis.length === 0) return `${head}; nothing to check.\n`;
  const rows = plan.vmis.map((e) => [e.vmi, String(e.devices.length), e.target ?? 'BLOCKED', e.verifiedBy ?? '-', e.reason || '-']);
  const table = renderTable(['VMI', 'DEVICES', 'TARGET', 'VERIFIED', 'REASON'], rows, { maxCellWidth: opts.maxCellWidth ?? 160 });
  const summary = renderCounts(['with a target', 'blocked'], { 'with a target': plan.summary.withTarget, blocked: plan.summary.blocked });
  return `${head}\n\n${table}\n${summary}; probes sent: ${plan.probes}\n${unverifiedHint(plan.vmis.map((v) => v.reason))}`;
}

export async function planDrainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseReadOnlyFlags(argv);
  const format = outputFormat(values.output);
  if (positionals.length !== 1) throw new UsageError(`expected exactly one <node>, got '${positionals.join(' ')}'`);
  if (values.namespace !== undefined) throw new UsageError(`-n/--namespace ${values.namespace}: a node has no namespace, and plan-drain covers the VMIs of every namespace on it; the operator's namespace is --operator-namespace`);
  const node = positionals[0] as string;
  const kc = kubeConfigFromFlags({ kubeconfig: values.kubeconfig, context: values.context });
  try {
    await kubeRequest(kc, { method: 'GET', path: resourcePath(NODES, { name: node }) });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    process.stderr.write(`mdev-operator plan-drain: node ${node} not found; list nodes with \`kubectl get nodes\`\n`);
    return 1;
  }
  const plan = await planDrain(kc, { node, namespace: values['operator-namespace'], probe: values.probe });
  process.stdout.write(renderDrainPlan(plan, format));
  return 0;
}
