// The controller's own metrics (the workqueue and reconcile metrics with controller-runtime names
// come from src/kube/workqueue.ts). Labels stay low-cardinality: never object names.
import { counter, histogram } from '../observability/metrics.ts';

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
  reservations: counter({
    name: 'mdev_operator_reservations_total',
    help: 'Device reservation attempts, by result (won, lost, released).',
    labelNames: ['result'],
  }),
};
