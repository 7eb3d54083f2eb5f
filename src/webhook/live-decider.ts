// A Decider for the read-only commands over a state listed once (live-view.ts): the controller's
// DecisionService with a verdict cache warmed from existing probe answers. Without `probe` nothing
// is written to the cluster; with it, unknown classes are probed through real MdevProbes (the
// agents answer), which needs a short-lived probe informer.
import type { KubeConfig } from '@kubernetes/client-node';
import { parseFromWire, type MdevDevice, type MdevProbe } from '../api/v1alpha1/index.ts';
import { DecisionService, MDEV_PROBES, ProbeClient, type ClusterView, type ProbeSender } from '../controller/services.ts';
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
  /** Devices treated as reserved (plan-drain: targets already promised to earlier VMIs of the plan). */
  planned?: () => ReadonlySet<string>;
}

export interface LiveDecider {
  decider: Decider;
  /** Verdicts seeded from earlier probe answers. */
  seeded: number;
  stop(): Promise<void>;
}

const PLAN_MIGRATION = { namespace: 'plan', name: 'plan', uid: 'plan-drain' };

function withPlanned(view: ClusterView, planned: ReadonlySet<string>): ClusterView {
  if (planned.size === 0) return view;
  const far = new Date(Date.now() + 3_600_000).toISOString();
  const devices = view.devices.map((d): MdevDevice =>
    planned.has(d.metadata.name) && d.status ? { ...d, status: { ...d.status, reservation: { migration: PLAN_MIGRATION, targetNode: d.spec.nodeName, reservedAt: far, expiresAt: far } } } : d,
  );
  return { ...view, devices };
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
  const service = new DecisionService({ view: () => withPlanned(o.state.view, o.planned?.() ?? new Set()), cache, prober: sender, probeTimeoutMs: o.probeTimeoutMs ?? 10_000, log: o.log });
  return { decider: decisionServiceDecider(service), seeded, stop: async () => void (await probes?.stop()) };
}
