// The drain plan of one node as plain rows: for every VMI with mediated devices on it, the target
// a migration would get now, or why none exists. VMIs are planned one after another, each claiming
// units of its target's pools for the next, as the real drain would. Read only: nothing is
// claimed, and nothing is probed unless `probe`. The `plan-drain` command and the demo share it.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { DEFAULT_NAMESPACE } from '../api/v1alpha1/constants.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';
import type { AdmissionDecision } from '../webhook/admission-ports.ts';
import { formatRejections, formatTotals } from '../webhook/denial-message.ts';
import { liveDecider, type PlannedClaim } from '../webhook/live-decider.ts';
import { loadLiveState, mdevVmisOnNode } from '../webhook/live-view.ts';

export interface DrainEntry {
  vmi: string;
  devices: string[];
  target: string | null;
  /** The pool on the target each device moves into (KubeVirt's device plugin picks the device). */
  targetPools: string[];
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

export interface PlanDrainOptions {
  node: string;
  /** The operator's namespace (agent Leases); default mdev-operator-system. */
  namespace?: string;
  /** Probe version classes no agent has answered yet (writes MdevProbes); else they stay unverified. */
  probe: boolean;
  log?: Logger;
}

/** Budget of one VMI's decision: generous, a plan is not on a request path. */
const DECISION_BUDGET_MS = 20_000;

export async function planDrain(kc: KubeConfig, o: PlanDrainOptions): Promise<DrainPlan> {
  const log = o.log ?? loggerFor('plan-drain');
  const state = await loadLiveState(kc, o.namespace ?? DEFAULT_NAMESPACE, log);
  const planned: PlannedClaim[] = [];
  const live = await liveDecider({ kc, state, probe: o.probe, log, planned: () => planned });
  try {
    const plan: DrainPlan = { node: o.node, vmis: [], summary: { withTarget: 0, blocked: 0 }, probes: 0 };
    for (const { vmi, devices } of mdevVmisOnNode(state, o.node)) {
      const d = await live.decider.decide({ vmi, budgetMs: DECISION_BUDGET_MS, probe: o.probe });
      plan.probes += d.probes;
      const entry = drainEntry(`${vmi.metadata.namespace}/${vmi.metadata.name}`, devices, d);
      if (entry.target) for (const pool of entry.targetPools) planned.push({ node: entry.target, pool, units: 1 });
      if (entry.target) plan.summary.withTarget++;
      else plan.summary.blocked++;
      plan.vmis.push(entry);
    }
    return plan;
  } finally {
    await live.stop();
  }
}

function drainEntry(vmi: string, devices: string[], d: AdmissionDecision): DrainEntry {
  return {
    vmi,
    devices,
    target: d.chosen?.node ?? null,
    targetPools: d.chosen?.devices.map((p) => p.pool) ?? [],
    verifiedBy: d.chosen ? (d.unconfirmed ? 'cache' : 'probe') : null,
    reason: d.chosen ? '' : d.explanations.length > 0 ? `no target (${formatTotals(d.totals)}): ${formatRejections(d.explanations, 3)}` : d.reason,
  };
}
