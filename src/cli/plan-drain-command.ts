// `mdev-operator plan-drain <node> [-o table|json] [--probe] [--kubeconfig P] [--namespace NS]`:
// before anyone runs `kubectl drain`, the target every VMI with mediated devices on the node would
// get, or why none exists. Read only: nothing is reserved, and nothing is probed unless --probe.
// VMIs are planned one after another, each taking its targets out of the pool for the next, as
// the real drain would.
import { parseArgs } from 'node:util';
import { NODES } from '../controller/resources.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { loggerFor } from '../observability/logger.ts';
import { formatRejections, formatTotals } from '../webhook/denial-message.ts';
import { liveDecider } from '../webhook/live-decider.ts';
import { loadLiveState, mdevVmisOnNode } from '../webhook/live-view.ts';
import { outputFormat, unverifiedHint } from './explain-command.ts';
import { renderCounts, renderJson, renderTable } from './output/table.ts';
import { UsageError } from './usage-error.ts';

export interface DrainEntry {
  vmi: string;
  devices: string[];
  target: string | null;
  targetDevices: string[];
  verifiedBy: 'probe' | 'cache' | null;
  /** For a blocked VMI: the summary and the first rejected nodes with their reasons. */
  reason: string;
}

export interface DrainPlan {
  node: string;
  vmis: DrainEntry[];
  summary: { withTarget: number; blocked: number };
  probes: number;
}

export function renderDrainPlan(plan: DrainPlan, format: 'table' | 'json'): string {
  if (format === 'json') return renderJson(plan);
  const head = `Drain plan for node ${plan.node}: ${plan.vmis.length} VMI${plan.vmis.length === 1 ? '' : 's'} with mediated devices`;
  if (plan.vmis.length === 0) return `${head}; nothing to check.\n`;
  const rows = plan.vmis.map((e) => [e.vmi, String(e.devices.length), e.target ?? 'BLOCKED', e.verifiedBy ?? '-', e.reason || '-']);
  const table = renderTable(['VMI', 'DEVICES', 'TARGET', 'VERIFIED', 'REASON'], rows, { maxCellWidth: 160 });
  const summary = renderCounts(['with a target', 'blocked'], { 'with a target': plan.summary.withTarget, blocked: plan.summary.blocked });
  return `${head}\n\n${table}\n${summary}; probes sent: ${plan.probes}\n${unverifiedHint(plan.vmis.map((v) => v.reason))}`;
}

export async function planDrainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      output: { type: 'string', short: 'o' },
      probe: { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', default: 'mdev-operator-system' },
    },
    allowPositionals: true,
  });
  const format = outputFormat(values.output);
  if (positionals.length !== 1) throw new UsageError(`expected exactly one <node>, got '${positionals.join(' ')}'`);
  const node = positionals[0] as string;
  const log = loggerFor('plan-drain');
  const kc = loadKubeConfig({ kubeconfig: values.kubeconfig });
  try {
    await kubeRequest(kc, { method: 'GET', path: resourcePath(NODES, { name: node }) });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    process.stderr.write(`mdev-operator plan-drain: node ${node} not found; list nodes with \`kubectl get nodes\`\n`);
    return 1;
  }
  const state = await loadLiveState(kc, values.namespace, log);
  const planned = new Set<string>();
  const live = await liveDecider({ kc, state, probe: values.probe, log, planned: () => planned });
  try {
    const plan: DrainPlan = { node, vmis: [], summary: { withTarget: 0, blocked: 0 }, probes: 0 };
    for (const { vmi, devices } of mdevVmisOnNode(state, node)) {
      const d = await live.decider.decide({ vmi, budgetMs: 20_000, probe: values.probe });
      plan.probes += d.probes;
      const targets = d.chosen?.devices.map((p) => p.target) ?? [];
      for (const t of targets) planned.add(t);
      if (d.chosen) plan.summary.withTarget++;
      else plan.summary.blocked++;
      const rejections = formatRejections(d.explanations, 3);
      plan.vmis.push({
        vmi: `${vmi.metadata.namespace}/${vmi.metadata.name}`,
        devices,
        target: d.chosen?.node ?? null,
        targetDevices: targets,
        verifiedBy: d.chosen ? (d.unconfirmed ? 'cache' : 'probe') : null,
        reason: d.chosen ? '' : d.explanations.length > 0 ? `no target (${formatTotals(d.totals)}): ${rejections}` : d.reason,
      });
    }
    process.stdout.write(renderDrainPlan(plan, format));
    return 0;
  } finally {
    await live.stop();
  }
}
