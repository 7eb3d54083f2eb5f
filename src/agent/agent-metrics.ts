// The agent's Prometheus metrics on an injected registry: a fleet simulator runs many agents in
// one process, each with its own registry, so no agent's counts leak into another's.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS } from '../observability/metrics.ts';

export type WriteKind = 'MdevDevice' | 'MdevNode' | 'MdevProbe';
export type WriteOp = 'apply' | 'apply-status' | 'delete' | 'patch-status';
export type ProbeOutcome = 'answered' | 'skipped' | 'failed';

export class AgentMetrics {
  readonly registry: Registry;
  readonly discoverySeconds: Histogram;
  readonly devices: Gauge;
  readonly writes: Counter<'kind' | 'op'>;
  readonly probes: Counter<'result'>;
  readonly writeErrors: Counter<'kind'>;
  readonly podResourcesUp: Gauge;
  readonly podResourcesErrors: Counter;
  readonly unmappedClaimDevices: Gauge;

  constructor(registry: Registry) {
    this.registry = registry;
    this.discoverySeconds = reuse(registry, 'mdev_agent_discovery_seconds', () => new Histogram({
      name: 'mdev_agent_discovery_seconds',
      help: 'Time of one discovery pass: sysfs scan, version reads and consumer lookup.',
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }));
    this.devices = reuse(registry, 'mdev_agent_devices', () => new Gauge({
      name: 'mdev_agent_devices',
      help: 'Devices found by the last discovery pass.',
      registers: [registry],
    }));
    this.writes = reuse(registry, 'mdev_agent_writes_total', () => new Counter({
      name: 'mdev_agent_writes_total',
      help: 'Writes to the API server by kind and operation; zero growth at steady state.',
      labelNames: ['kind', 'op'],
      registers: [registry],
    }));
    this.probes = reuse(registry, 'mdev_agent_probes_total', () => new Counter({
      name: 'mdev_agent_probes_total',
      help: 'MdevProbes handled, by result: answered, skipped (already answered) or failed (status write failed).',
      labelNames: ['result'],
      registers: [registry],
    }));
    this.writeErrors = reuse(registry, 'mdev_agent_write_errors_total', () => new Counter({
      name: 'mdev_agent_write_errors_total',
      help: 'Failed writes to the API server by kind; retried on the next pass.',
      labelNames: ['kind'],
      registers: [registry],
    }));
    this.podResourcesUp = reuse(registry, 'mdev_agent_podresources_up', () => new Gauge({
      name: 'mdev_agent_podresources_up',
      help: 'Whether the last kubelet PodResources call answered (1) or failed (0; also 0 without --podresources-socket); while 0, consumers are kept as last known.',
      registers: [registry],
    }));
    this.podResourcesErrors = reuse(registry, 'mdev_agent_podresources_errors_total', () => new Counter({
      name: 'mdev_agent_podresources_errors_total',
      help: 'Failed kubelet PodResources calls (socket missing or refused, deadline, rate limit, bad answer).',
      registers: [registry],
    }));
    this.unmappedClaimDevices = reuse(registry, 'mdev_agent_unmapped_claim_devices', () => new Gauge({
      name: 'mdev_agent_unmapped_claim_devices',
      help: 'DRA claim devices held on the node that no ResourceSlice attribute maps to a device id (last pass).',
      registers: [registry],
    }));
  }

  wrote(kind: WriteKind, op: WriteOp): void {
    this.writes.inc({ kind, op });
  }

  /** Total writes of `kind` so far (all operations), for tests and the benchmark. */
  async writeCount(kind: WriteKind): Promise<number> {
    const data = await this.writes.get();
    return data.values.filter((v) => v.labels.kind === kind).reduce((sum, v) => sum + v.value, 0);
  }
}

/** The metric already on the registry (a second agent sharing it), or a new one. */
function reuse<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}
