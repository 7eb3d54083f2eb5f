// A Decider for the read-only commands over a state listed once (live-view.ts): the controller's
// DecisionService with a verdict cache warmed from existing probe answers. Without `probe` nothing
// is written to the cluster; with it, unknown classes are probed through real MdevProbes (the
// agents answer), which needs a short-lived probe informer.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { parseFromWire, type MdevProbe } from '../api/v1alpha1/index.ts';
import { DecisionService, MDEV_PROBES, ProbeClient, type CachedMdevNode, type ClusterView, type ProbeSender } from '../controller/services.ts';
import { informerFor, type Informer } from '../kube/informer.ts';
import type { Logger } from '../observability/logger.ts';
import { VerdictCache } from '../placement/index.ts';
import type { Decider } from './admission-ports.ts';
import { decisionServiceDecider } from './decision-adapter.ts';
import { warmCacheFromProbes, type LiveState } from './live-view.ts';

/** Sends nothing: every unknown class stays unverified. */
export const NO_PROBES: ProbeSender = { run: async () => ({ answers: [], timedOut: [], sent: 0 }) };

export interface LiveDeciderOptions {
  kc: KubeConfig;
  state: LiveState;
  probe: boolean;
  log: Logger;
  probeTimeoutMs?: number;
  /** Units treated as claimed (plan-drain: capacity already promised to earlier VMIs of the plan). */
  planned?: () => readonly PlannedClaim[];
}

/** A unit of a node's pool that an earlier VMI of a drain plan would claim. */
export interface PlannedClaim {
  node: string;
  pool: string;
  units: number;
}

export interface LiveDecider {
  decider: Decider;
  /** Verdicts seeded from earlier probe answers. */
  seeded: number;
  stop(): Promise<void>;
}

const PLAN_MIGRATION = { namespace: 'plan', name: 'plan', uid: 'plan-drain' };

function withPlanned(view: ClusterView, planned: readonly PlannedClaim[]): ClusterView {
  if (planned.length === 0) return view;
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const far = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const claimsOn = (node: string) =>
    planned.filter((p) => p.node === node).map((p, i) => ({ migration: { ...PLAN_MIGRATION, uid: `${PLAN_MIGRATION.uid}-${i}` }, pool: p.pool, typeId: p.pool, units: p.units, claimedAt: now, expiresAt: far }));
  const mdevNodes = view.mdevNodes.map((n): CachedMdevNode => {
    const mine = claimsOn(n.metadata.name);
    return mine.length === 0 ? n : { ...n, status: { ...n.status, claims: [...(n.status?.claims ?? []), ...mine] } };
  });
  // A node whose agent has not published an MdevNode yet still holds the plan's claims.
  for (const node of new Set(planned.map((p) => p.node))) {
    if (mdevNodes.some((n) => n.metadata.name === node)) continue;
    mdevNodes.push({ metadata: { name: node }, spec: { nodeName: node }, status: { claims: claimsOn(node) } });
  }
  return { ...view, mdevNodes };
}

export async function liveDecider(o: LiveDeciderOptions): Promise<LiveDecider> {
  const cache = new VerdictCache();
  const seeded = warmCacheFromProbes(cache, o.state.probes, o.state.view.devices);
  let probes: Informer<MdevProbe> | undefined;
  let sender: ProbeSender = NO_PROBES;
  if (o.probe) {
    probes = informerFor(o.kc, { resource: MDEV_PROBES, name: 'cli-mdevprobes', parse: (p) => parseFromWire('MdevProbe', p, o.log) });
    probes.start();
    await probes.waitForSync();
    sender = new ProbeClient({ kc: o.kc, probes, log: o.log });
  }
  const service = new DecisionService({ view: () => withPlanned(o.state.view, o.planned?.() ?? []), cache, prober: sender, probeTimeoutMs: o.probeTimeoutMs ?? 10_000, log: o.log });
  return { decider: decisionServiceDecider(service), seeded, stop: async () => void (await probes?.stop()) };
}
