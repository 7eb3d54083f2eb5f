// The controller's informer caches: MdevDevices, MdevNodes, MdevProbes, MdevMigrations, Nodes,
// agent Leases (operator namespace), VMIs and VMIMs, plus the KubeVirt CR's target constraints
// (polled: the CR may not exist). Started together, synced together, and read through `view()` as
// the plain lists the snapshot adapters take. `currency()` says whether the informers may be behind
// the API server (one relisting or in backoff, or /readyz failing): nothing is decided from them
// then, and a Lease is judged against how long they have been current.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { parseFromWire, SCHEMAS, type MdevMigration, type MdevProbe } from '../api/v1alpha1/index.ts';
import { ApiReadiness, readyzProbe } from '../kube/api-readiness.ts';
import { declaredFieldsOnly } from '../kube/lenient-decode.ts';
import { cachedDevice, cachedMdevNode, StringPool, type CachedDevice, type CachedMdevNode } from './cached-objects.ts';
import { informerFor, type Informer } from '../kube/informer.ts';
import { cachedVmi, cachedVmim, parseVmi, parseVmim, type Vmi, type Vmim } from '../kubevirt/types.ts';
import { KubevirtConfigSource } from '../kubevirt/kubevirt-config.ts';
import type { Logger } from '../observability/logger.ts';
import { LEADER_LEASE_NAME, LEASES, MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, MDEV_PROBES, NODES, VMIMS, VMIS } from './resources.ts';
import { parseAgentLease, parseNode, type AgentLease, type ClusterView, type NodeObject, type ViewRevision } from './snapshot.ts';

export interface CachesOptions {
  kc: KubeConfig;
  /** Operator namespace: where agent Leases live. */
  namespace: string;
  log: Logger;
  /** Server-side watch timeout per informer (seconds); default 60. */
  watchTimeoutSeconds?: number;
  /** The API server's own readiness (default: /readyz polled every second). */
  readiness?: ApiReadiness;
}

/** Whether the caches can be decided from. */
export interface CacheCurrency {
  /** Informers that may be behind (relisting or in backoff), and `apiserver` while /readyz fails; empty = current. */
  behind: string[];
  /** Since when the agent Lease cache has been current with the API server ready; undefined while behind. */
  leasesSince: number | undefined;
  /** Since when the MdevDevice cache has been current with the API server ready (what agents report, e.g. consumers); undefined while behind. */
  devicesSince: number | undefined;
}

/**
 * An MdevMigration as the controller keeps it: without `status.candidates`, the bounded list of
 * per-node verdicts (up to LIMITS.candidates entries with messages, the bulk of the object). The controller writes
 * that list for people and tools and never reads it back, and finished migrations stay in the
 * cache for as long as they exist, so keeping it would grow the process with every migration.
 */
export function cachedMigration(m: MdevMigration | undefined): MdevMigration | undefined {
  if (!m?.status?.candidates) return m;
  const { candidates: _candidates, ...status } = m.status;
  return { ...m, status };
}

function project<T, C>(parsed: T | undefined, projection: (t: T) => C): C | undefined {
  return parsed === undefined ? undefined : projection(parsed);
}

export class ControllerCaches {
  readonly devices: Informer<CachedDevice>;
  readonly mdevNodes: Informer<CachedMdevNode>;
  readonly probes: Informer<MdevProbe>;
  readonly migrations: Informer<MdevMigration>;
  readonly nodes: Informer<NodeObject>;
  readonly leases: Informer<AgentLease>;
  readonly vmis: Informer<Vmi>;
  readonly vmims: Informer<Vmim>;
  readonly readiness: ApiReadiness;
  /** The KubeVirt CR's nodeSelectors and workloads nodePlacement (undefined without a readable CR). */
  readonly kubevirt: KubevirtConfigSource;

  constructor(opts: CachesOptions) {
    const { kc, log } = opts;
    const common = { watchTimeoutSeconds: opts.watchTimeoutSeconds };
    // Projections (cached-objects.ts): each informer keeps only what is read; strings shared.
    const strings = new StringPool();
    this.devices = informerFor(kc, { ...common, resource: MDEV_DEVICES, name: 'controller-mdevdevices', parse: (o) => project(parseFromWire('MdevDevice', o, log), (d) => cachedDevice(d, strings)) });
    this.mdevNodes = informerFor(kc, { ...common, resource: MDEV_NODES, name: 'controller-mdevnodes', parse: (o) => project(parseFromWire('MdevNode', o, log), (n) => cachedMdevNode(n, strings)) });
    this.probes = informerFor(kc, { ...common, resource: MDEV_PROBES, name: 'controller-mdevprobes', parse: (o) => project(parseFromWire('MdevProbe', o, log), (p) => declaredFieldsOnly(SCHEMAS.MdevProbe, p)) });
    this.migrations = informerFor(kc, { ...common, resource: MDEV_MIGRATIONS, name: 'controller-mdevmigrations', parse: (o) => cachedMigration(project(parseFromWire('MdevMigration', o, log), (m) => declaredFieldsOnly(SCHEMAS.MdevMigration, m))) });
    this.nodes = informerFor(kc, { ...common, resource: NODES, name: 'controller-nodes', parse: parseNode });
    // The leader-election Lease shares the namespace and renews every few seconds; it is not an agent's.
    this.leases = informerFor(kc, { ...common, resource: LEASES, namespace: opts.namespace, fieldSelector: `metadata.name!=${LEADER_LEASE_NAME}`, name: 'controller-agent-leases', parse: parseAgentLease });
    this.vmis = informerFor(kc, { ...common, resource: VMIS, name: 'controller-vmis', parse: (o) => project(parseVmi(o, log), cachedVmi) });
    this.vmims = informerFor(kc, { ...common, resource: VMIMS, name: 'controller-vmims', parse: (o) => project(parseVmim(o, log), cachedVmim) });
    this.readiness = opts.readiness ?? new ApiReadiness({ probe: readyzProbe(kc), logger: log.child({ part: 'api-readiness' }) });
    // The API server is back: informers in backoff relist now instead of when their timer fires.
    this.readiness.onReady(() => {
      for (const i of this.all()) i.retryNow();
    });
    this.kubevirt = new KubevirtConfigSource({ kc, log });
  }

  all(): Informer<unknown>[] {
    return [this.devices, this.mdevNodes, this.probes, this.migrations, this.nodes, this.leases, this.vmis, this.vmims] as Informer<unknown>[];
  }

  start(): void {
    this.readiness.start();
    for (const i of this.all()) i.start();
    this.kubevirt.start();
  }

  async waitForSync(): Promise<void> {
    await Promise.all([...this.all().map((i) => i.waitForSync()), this.kubevirt.firstRead()]);
  }

  synced(): boolean {
    return this.all().every((i) => i.hasSynced());
  }

  async stop(): Promise<void> {
    await Promise.all([...this.all().map((i) => i.stop()), this.readiness.stop(), this.kubevirt.stop()]);
  }

  currency(): CacheCurrency {
    const behind = this.all().filter((i) => i.currentSince() === undefined).map((i) => i.name);
    const ready = this.readiness.readySince();
    if (ready === undefined) behind.push('apiserver');
    const since = (i: Informer<unknown>): number | undefined => {
      const current = i.currentSince();
      return ready === undefined || current === undefined ? undefined : Math.max(ready, current);
    };
    return { behind, leasesSince: since(this.leases as Informer<unknown>), devicesSince: since(this.devices as Informer<unknown>) };
  }

  /** Calls `fn` whenever an informer or the API server's readiness recovers (the caches may be current again). Returns its removal. */
  onRecovered(fn: () => void): () => void {
    const removals = [...this.all().map((i) => i.onCurrent(fn)), this.readiness.onReady(fn)];
    return () => {
      for (const remove of removals) remove();
    };
  }

  /**
   * Keys that change whenever the part of `view()` they cover changed (for caching what is derived
   * from it): `nodes` covers Nodes and agent Leases, `devices` covers MdevDevices and MdevNodes.
   */
  viewRevision(): ViewRevision {
    const since = this.currency().leasesSince ?? 'behind';
    return { nodes: `${this.nodes.revision()}/${this.leases.revision()}/${since}`, devices: `${this.devices.revision()}/${this.mdevNodes.revision()}` };
  }

  /** The cluster as the snapshot adapters read it. */
  view(): ClusterView {
    const currentSince = this.currency().leasesSince ?? Number.POSITIVE_INFINITY;
    return { nodes: this.nodes.list(), leases: this.leases.list(), devices: this.devices.list(), mdevNodes: this.mdevNodes.list(), currentSince };
  }
}
