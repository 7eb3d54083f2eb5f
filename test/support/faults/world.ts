// One fault scenario's world on the real local kube-apiserver: its own operator namespace (agent
// and leader Leases), its own VM namespace, STAND-IN nodes named uniquely per run (the fleet
// simulator: fake sysfs, simulated vendor drivers, the REAL agent code) and optionally the KubeVirt
// stand-in simulator and a controller manager. `stop()` removes all of it, so scenarios never
// disturb each other or other test files sharing the cluster.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { API_VERSION, LABEL_NODE, probeObjectName, type MdevDevice, type MdevMigration, type MdevNode, type MdevProbe } from '../../../src/api/v1alpha1/index.ts';
import { startManager, type ManagerHandle, type ManagerOptions } from '../../../src/controller/manager.ts';
import { MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, MDEV_PROBES } from '../../../src/controller/resources.ts';
import { isOwnedBy } from '../../../src/controller/vmim-driver.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { listVmims } from '../../../src/kubevirt/client.ts';
import type { Vmim } from '../../../src/kubevirt/types.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { startFleet, type FleetHandle, type FleetKubevirtOptions } from '../../../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { kubectl, uniqueName } from '../cluster.ts';
import type { InvariantScope } from './invariants.ts';
import { poll } from '../poll.ts';

const CRDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crds');

/** An NVIDIA H100 GPU spec; `hostDriver`'s major number is the branch (same branch = compatible). */
export function h100(hostDriver: string, extra: Partial<GpuSpec> = {}): GpuSpec {
  return { vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices: 2, spare: 0, ...extra };
}

export function nodeSpec(name: string, gpus: GpuSpec[], extra: Partial<FleetNodeSpec> = {}): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus, ...extra };
}

let crdsInstalled: Promise<void> | undefined;

/** Applies crds/ once per test process. */
export function installCrds(): Promise<void> {
  crdsInstalled ??= (async () => {
    const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRDS_DIR]);
    if (r.code !== 0) throw new Error(`installing crds/ failed: ${r.stderr}`);
    const w = await kubectl(['wait', '--for', 'condition=established', '--timeout=60s', '-f', CRDS_DIR]);
    if (w.code !== 0) throw new Error(`crds/ did not become Established: ${w.stderr}`);
  })();
  return crdsInstalled;
}

export interface WorldOptions {
  kc: KubeConfig;
  /** Short prefix of names (namespaces, nodes). */
  prefix: string;
  /** Node specs by suffix: node `<prefix>-<rand>-<suffix>`. */
  nodes: Array<{ suffix: string; gpus: GpuSpec[]; extra?: Partial<FleetNodeSpec> }>;
  kubevirt?: false | Omit<FleetKubevirtOptions, 'namespace'>;
  resyncIntervalMs?: number;
  leaseDurationMs?: number;
  leaseRenewMs?: number;
}

export class FaultWorld {
  readonly kc: KubeConfig;
  readonly opNs: string;
  readonly ns: string;
  readonly #prefix: string;
  readonly fleet: FleetHandle;
  readonly managers: ManagerHandle[] = [];

  private constructor(kc: KubeConfig, prefix: string, opNs: string, ns: string, fleet: FleetHandle) {
    this.kc = kc;
    this.#prefix = prefix;
    this.opNs = opNs;
    this.ns = ns;
    this.fleet = fleet;
  }

  static async start(o: WorldOptions): Promise<FaultWorld> {
    await installCrds();
    const base = uniqueName(o.prefix);
    const opNs = `${base}-op`;
    const ns = `${base}-vm`;
    for (const name of [opNs, ns]) {
      await kubeRequest(o.kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
    }
    const specs = o.nodes.map((n) => nodeSpec(`${base}-${n.suffix}`, n.gpus, n.extra));
    const fleet = await startFleet({
      kc: o.kc,
      namespace: opNs,
      specs,
      kubevirt: o.kubevirt === false ? false : { stepDelayMs: 20, ...o.kubevirt, namespace: ns },
      resyncIntervalMs: o.resyncIntervalMs ?? 2_000,
      leaseDurationMs: o.leaseDurationMs,
      leaseRenewMs: o.leaseRenewMs,
    });
    return new FaultWorld(o.kc, base, opNs, ns, fleet);
  }

  /** The node of suffix `s`. */
  node(s: string): string {
    return `${this.#prefix}-${s}`;
  }

  /** A controller manager on this world's operator namespace (fast sweeps, short probe timeout). */
  async startController(extra: Partial<ManagerOptions> = {}): Promise<ManagerHandle> {
    const m = await startManager({ kc: this.kc, namespace: this.opNs, leaderElect: false, probeTimeoutMs: 4_000, sweepIntervalMs: 500, watchTimeoutSeconds: 30, ...extra });
    this.managers.push(m);
    return m;
  }

  scope(): InvariantScope {
    return {
      kc: this.kc,
      namespaces: [this.ns],
      nodes: this.fleet.nodeNames,
      expectedDevices: (node) => {
        const devices = this.fleet.agent(node)?.lastPass()?.inventory.devices;
        return devices ? [...devices.keys()] : undefined;
      },
    };
  }

  async createMigration(name: string, spec: { vmiName: string; deadlineSeconds?: number; targetNodes?: string[]; dryRun?: boolean }): Promise<MdevMigration> {
    const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name, namespace: this.ns }, spec };
    return (await kubeRequest(this.kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: this.ns }), body })) as MdevMigration;
  }

  async migration(name: string): Promise<MdevMigration | undefined> {
    return (await kubeRequest(this.kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: this.ns, name }) }).catch(() => undefined)) as MdevMigration | undefined;
  }

  async waitForPhase(name: string, phases: readonly string[], timeoutMs = 60_000): Promise<MdevMigration> {
    return eventually(`MdevMigration ${this.ns}/${name} to reach ${phases.join('|')}`, async () => {
      const m = await this.migration(name);
      return m && phases.includes(m.status?.phase ?? '') ? m : undefined;
    }, timeoutMs);
  }

  /** The VMIMs `m` owns (the controller's attempts), as the API server has them now. */
  async vmimsOf(m: MdevMigration): Promise<Vmim[]> {
    return (await listVmims(this.kc, { namespace: this.ns })).filter((v) => isOwnedBy(v, m.metadata.uid ?? ''));
  }

  async devicesOf(node: string): Promise<MdevDevice[]> {
    const res = (await kubeRequest(this.kc, { method: 'GET', path: resourcePath(MDEV_DEVICES), query: { labelSelector: `${LABEL_NODE}=${node}` } })) as { items: MdevDevice[] };
    return res.items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  }

  /** The capacity claims on `node` (its MdevNode's status.claims). */
  async claimsOn(node: string): Promise<{ pool: string; units: number; migration: { namespace: string; name: string } }[]> {
    const n = (await kubeRequest(this.kc, { method: 'GET', path: resourcePath(MDEV_NODES, { name: node }) }).catch(() => undefined)) as MdevNode | undefined;
    return n?.status?.claims ?? [];
  }

  /** Creates a probe as the controller would (deterministic name), asking every device of the type. */
  async createProbe(node: string, sourceVersion: string, typeId = 'nvidia-1012', salt = ''): Promise<string> {
    const name = probeObjectName(node, typeId, sourceVersion + salt);
    const body = { apiVersion: API_VERSION, kind: 'MdevProbe', metadata: { name, labels: { [LABEL_NODE]: node } }, spec: { nodeName: node, typeId, sourceVersion, devices: [] } };
    await kubeRequest(this.kc, { method: 'POST', path: resourcePath(MDEV_PROBES), body });
    return name;
  }

  async probe(name: string): Promise<MdevProbe | undefined> {
    return (await kubeRequest(this.kc, { method: 'GET', path: resourcePath(MDEV_PROBES, { name }) }).catch(() => undefined)) as MdevProbe | undefined;
  }

  async answered(name: string, timeoutMs = 30_000): Promise<MdevProbe> {
    return eventually(`MdevProbe ${name} to be answered`, async () => {
      const p = await this.probe(name);
      return p?.status?.observedGeneration !== undefined && p.status.observedGeneration >= (p.metadata.generation ?? 1) ? p : undefined;
    }, timeoutMs);
  }

  async stop(): Promise<void> {
    for (const m of this.managers.splice(0)) await m.stop().catch(() => undefined);
    await this.fleet.stop({ deleteNodes: true });
    for (const node of this.fleet.nodeNames) {
      await kubeRequest(this.kc, { method: 'DELETE', path: resourcePath(MDEV_PROBES), query: { labelSelector: `${LABEL_NODE}=${node}` } }).catch(() => undefined);
    }
    // Pods bound to nodes never finish a graceful deletion without a kubelet: remove them first.
    await kubeRequest(this.kc, { method: 'DELETE', path: `/api/v1/namespaces/${this.ns}/pods`, query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
    for (const ns of [this.ns, this.opNs]) await kubeRequest(this.kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  }
}

/** Polls `read` until it returns a value; throws naming `what` at the deadline. */
export function eventually<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  return poll(what, read, timeoutMs);
}
