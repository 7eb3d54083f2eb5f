// The controller's own metrics (the workqueue and reconcile metrics with controller-runtime names
// come from src/kube/workqueue.ts). Labels stay low-cardinality: never object names (node names
// label only the per-node agent gauge, one series per node).
import { Gauge } from 'prom-client';
import { counter, histogram, metricsRegistry } from '../observability/metrics.ts';
import { agentLeaseFresh, type AgentLease } from './snapshot.ts';

export const MIGRATION_RESULTS = ['succeeded', 'failed', 'planned'] as const;

export const controllerMetrics = {
  migrations: counter({
    name: 'mdev_operator_migrations_total',
    help: 'MdevMigrations that reached a final phase, by result (succeeded, failed; planned for dry runs).',
    labelNames: ['result'],
  }),
  decisionSeconds: histogram({
    name: 'mdev_operator_decision_seconds',
    help: 'Time a placement decision took, probes included.',
    labelNames: [],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  }),
  probes: counter({ name: 'mdev_operator_probes_total', help: 'Probe requests the controller sent to agents.', labelNames: [] }),
  probeTimeouts: counter({
    name: 'mdev_operator_probe_timeouts_total',
    help: 'Probe requests no agent answered before the deadline (the node counts as AgentUnavailable).',
    labelNames: [],
  }),
  claims: counter({
    name: 'mdev_operator_capacity_claims_total',
    help: 'Capacity claims on (node, pool), by result: won, lost (another migration took the last unit, or the pool is short), released.',
    labelNames: ['result'],
  }),
};

// ---------------------------------------------------------------------------------------------
// mdev_operator_agent_lease_stale{node}: computed at scrape time from the agent Leases the
// process's caches hold (a lease goes stale by the clock, without any watch event). The chart's
// PrometheusRule alerts on `max by (node) (...) > 0`, so every replica may export it.
// ---------------------------------------------------------------------------------------------

type LeaseSource = () => readonly AgentLease[];
const leaseSources = new Set<LeaseSource>();

/** 1 for every node whose agent lease is stale at `now`, 0 for a fresh one (pure). */
export function agentLeaseStaleness(leases: readonly AgentLease[], now: number): Map<string, 0 | 1> {
  const out = new Map<string, 0 | 1>();
  for (const lease of leases) {
    const stale = agentLeaseFresh(lease, now) ? 0 : 1;
    // Several sources (replicas in one process) may list the same node: stale wins.
    out.set(lease.nodeName, Math.max(out.get(lease.nodeName) ?? 0, stale) as 0 | 1);
  }
  return out;
}

/** Registered at import; its values come from the registered lease sources at scrape time. */
export const agentLeaseStale =
  (metricsRegistry.getSingleMetric('mdev_operator_agent_lease_stale') as Gauge<'node'> | undefined) ??
  new Gauge({
    name: 'mdev_operator_agent_lease_stale',
    help: "1 when the node's mdev-operator agent Lease is stale (expired or never renewed): its devices get the verdict AgentUnavailable.",
    labelNames: ['node'],
    registers: [metricsRegistry],
    collect() {
      this.reset();
      const leases = [...leaseSources].flatMap((source) => source());
      for (const [node, stale] of agentLeaseStaleness(leases, Date.now())) this.set({ node }, stale);
    },
  });

/** Makes the gauge read `source` at every scrape; returns the unregister function. */
export function registerAgentLeaseSource(source: LeaseSource): () => void {
  leaseSources.add(source);
  return () => void leaseSources.delete(source);
}
