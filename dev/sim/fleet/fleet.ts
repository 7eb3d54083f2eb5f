// STAND-IN fleet: N simulated nodes in one process, for tests, the demo and benchmarks. Each node
// gets a Node object (labelled as virt-handler labels a KubeVirt node), its own fake sysfs tree with
// simulated vendor drivers, and the REAL agent (`startAgent`) over the simulated backend, or, with
// `nvidiaBackend: 'nvml'`, NVIDIA nodes run the REAL nvml backend: the NVML helper over go-nvml's
// mock, whose fixture NvmlHost keeps in step with the VMs on the node (nvml-host.ts); a kubelet
// stand-in reports PodResources from the virt-launcher pods; the KubeVirt simulator advances VMIMs,
// and a device-plugin stand-in gives each target pod ANY free device of the resources it requests
// (seeded random), as KubeVirt's plugin does: it knows nothing of the operator's claims.
import { withUserAgent } from '../../../src/kube/user-agent.ts';
import { STANDIN_USER_AGENTS } from '../user-agents.ts';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { LABEL_NODE, parseFromWire, type MdevDevice } from '../../../src/api/v1alpha1/index.ts';
import { startAgent, type AgentHandle } from '../../../src/agent/agent.ts';
import type { AgentConfig } from '../../../src/agent/config.ts';
import { DEFAULT_NAMESPACE } from '../../../src/api/v1alpha1/constants.ts';
import { nvmlBackend } from '../../../src/compat/nvml-backend.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { HoldableBackend } from './holdable-backend.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { isAlreadyExists, isNotFound } from '../../../src/kube/errors.ts';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { LEASES, toMicroTime } from '../../../src/kube/lease-store.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { LABEL_HOSTNAME, type Toleration, type Vmi } from '../../../src/kubevirt/types.ts';
import { mdevPoolKey } from '../../../src/kubevirt/device-plugin.ts';
import { LABEL_SCHEDULABLE } from '../../../src/kubevirt/target-constraints.ts';
import { allocate, seededRandom } from '../kubevirt/device-plugin.ts';
import { installKubevirtStandins } from '../../standins/kubevirt-crds.ts';
import { loggerFor, type Logger } from '../../../src/observability/logger.ts';
import { FakeSysfs } from '../../fakes/sysfs/fake-sysfs.ts';
import type { FakeTree } from '../../fakes/sysfs/fake-tree.ts';
import { MDEV_DEVICES, NODES } from '../../../src/controller/resources.ts';
import { startKubevirtSimulator, type FailWhen, type KubevirtSimulator } from '../kubevirt/simulator.ts';
import { createRunningVmi } from '../kubevirt/vmi-factory.ts';
import { nvmlHelperBinaries } from '../../nvml/helper-binaries.ts';
import { FleetKubelet } from './kubelet.ts';
import { isNvidiaNode, NvmlHost, type GuestBook } from './nvml-host.ts';
import { buildNodeTree } from './node-tree.ts';
import { BUILTIN_PROFILES, expandProfile, parseProfile, type FleetNodeSpec, type ProfileInput } from './profile.ts';

export interface FleetKubevirtOptions {
  /** VMIMs of this namespace only; absent = all. */
  namespace?: string;
  stepDelayMs?: number;
  failWhen?: FailWhen;
  /** How long a target pod may stay unschedulable before KubeVirt gives up (default KubeVirt's 5 minutes). */
  unschedulableTimeoutMs?: number;
}

export interface FleetOptions {
  kc: KubeConfig;
  /** Operator namespace (agent Leases); created if missing. */
  namespace?: string;
  /** Explicit node specs; otherwise expanded from `profile`. */
  specs?: FleetNodeSpec[];
  /** A built-in profile name (`demo`) or a profile document. Default `demo`. */
  profile?: string | ProfileInput;
  /** Cycle the profile's groups to exactly this many nodes. */
  nodes?: number;
  /** Node name prefix (default `sim`). */
  prefix?: string;
  /** false: no KubeVirt simulator (default: one for all namespaces). */
  kubevirt?: false | FleetKubevirtOptions;
  /** Install the KubeVirt stand-in CRDs first (default true). */
  installKubevirtCrds?: boolean;
  leaseDurationMs?: number;
  leaseRenewMs?: number;
  resyncIntervalMs?: number;
  /** Seed of the device-plugin stand-in's random picks (default 1), so a run can be replayed. */
  allocationSeed?: number;
  /**
   * Backend of the nodes whose parents are all NVIDIA GPUs: `simulated` (the nvidia-branch policy,
   * default) or `nvml` (the real nvml backend: the NVML helper over go-nvml's mock, built on first
   * use by scripts/build-nvml-helper.sh).
   */
  nvidiaBackend?: 'simulated' | 'nvml';
  log?: Logger;
}

export interface StartVmSpec {
  namespace: string;
  name: string;
  node: string;
  /** Devices to give the VM (default 1). */
  devices?: number;
  /** Device type (default: the type of the node's first free device). */
  typeId?: string;
  /** Only devices of this parent (a PCI address, `gpuAddress(i)` for the node's i-th GPU). */
  parent?: string;
  /** Request the devices through DRA (GPUsWithDRA): gpus entries with claimName/requestName, no deviceName. */
  dra?: boolean;
  /** false: KubeVirt reports the VMI not live-migratable (LiveMigratable=False). */
  liveMigratable?: boolean;
  tolerations?: Toleration[];
  nodeSelector?: Record<string, string>;
}

export interface StartedVm {
  vmi: Vmi;
  /** MdevDevice names the VM uses, sorted. */
  devices: string[];
}

export interface FleetHandle {
  readonly namespace: string;
  readonly specs: FleetNodeSpec[];
  readonly nodeNames: string[];
  agent(node: string): AgentHandle | undefined;
  kubevirt(): KubevirtSimulator | undefined;
  /** A Running VMI on `node` using free devices there; resolves once their MdevDevices show it as consumer. */
  startVm(spec: StartVmSpec): Promise<StartedVm>;
  /** Stops a node's agent (its lease then expires after the lease duration). */
  stopAgent(node: string): Promise<void>;
  /** Stops a node's agent and backdates its Lease, so the node is AgentUnavailable at once. */
  expireLease(node: string): Promise<void>;
  /** Runs discovery and publishing on every agent (or one) now. */
  rediscover(node?: string): Promise<void>;
  /** A node's compatibility backend, whose probe tests can be held and released (fault tests). */
  backend(node: string): HoldableBackend | undefined;
  /** A node's fake sysfs tree (tests inspect what its agent created or removed; fault injection). */
  tree(node: string): FakeTree | undefined;
  stop(opts?: { deleteNodes?: boolean }): Promise<void>;
}

export async function startFleet(opts: FleetOptions): Promise<FleetHandle> {
  const fleet = new Fleet(opts);
  try {
    await fleet.start();
  } catch (err) {
    await fleet.stop({ deleteNodes: false });
    throw err;
  }
  return fleet.handle();
}

/** The node specs a fleet of these options runs (exported for the CLI's `--dry-run` and tests). */
export function fleetSpecs(opts: Pick<FleetOptions, 'specs' | 'profile' | 'nodes' | 'prefix'>): FleetNodeSpec[] {
  if (opts.specs) return opts.specs;
  const input = typeof opts.profile === 'string' || opts.profile === undefined ? BUILTIN_PROFILES[opts.profile ?? 'demo'] : opts.profile;
  if (!input) throw new Error(`unknown fleet profile ${JSON.stringify(opts.profile)}: use ${Object.keys(BUILTIN_PROFILES).join(', ')} or a JSON file`);
  return expandProfile(parseProfile(input), { prefix: opts.prefix ?? 'sim', nodes: opts.nodes });
}

class Fleet {
  readonly #o: FleetOptions;
  readonly #log: Logger;
  readonly #namespace: string;
  readonly #specs: FleetNodeSpec[];
  readonly #agents = new Map<string, AgentHandle>();
  readonly #trees = new Map<string, FakeTree>();
  readonly #backends = new Map<string, HoldableBackend>();
  readonly #kubelet: FleetKubelet;
  readonly #random: () => number;
  /** Device-plugin stand-in allocations by VMIM uid, kept until the kubelet's pod cache shows the pod bound with them (a kubelet's checkpoint). */
  readonly #allocations = new Map<string, { node: string; deviceIds: string[] }>();
  #admitting: Promise<unknown> = Promise.resolve();
  readonly #nvmlHosts = new Map<string, NvmlHost>();
  readonly #guests: GuestBook = new Map();
  #nvmlHelper: string | undefined;
  #kubevirt: KubevirtSimulator | undefined;

  constructor(opts: FleetOptions) {
    // Named to the API server as the stand-in fleet; its agents name themselves as agents.
    this.#o = { ...opts, kc: withUserAgent(opts.kc, STANDIN_USER_AGENTS.fleet) };
    this.#log = opts.log ?? loggerFor('fleet');
    this.#namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.#specs = fleetSpecs(opts);
    this.#kubelet = new FleetKubelet(this.#o.kc, this.#log);
    this.#random = seededRandom(opts.allocationSeed ?? 1);
    // From here the pod itself holds its devices; when it goes, so do they. Dropping the allocation
    // only at the node's next admission leaked it when the pod left first (a VM that moved on).
    this.#kubelet.onTargetPodBound((uid) => this.#allocations.delete(uid));
    this.#kubelet.onNodeChange((node) => {
      // The stand-in vGPU Manager learns of the VM before the agent's next read.
      this.#nvmlHosts.get(node)?.update(this.#kubelet.heldDevices(node));
      // The kubelet's listener cannot wait; rediscover() never rejects (a pass logs its own failure).
      void this.#agents.get(node)?.rediscover();
    });
  }

  async start(): Promise<void> {
    const { kc } = this.#o;
    await ensureNamespace(kc, this.#namespace);
    if (this.#o.nvidiaBackend === 'nvml' && this.#specs.some(isNvidiaNode)) this.#nvmlHelper = (await nvmlHelperBinaries()).mock;
    if (this.#o.installKubevirtCrds !== false) await installKubevirtStandins(kc);
    await this.#kubelet.start();
    for (const spec of this.#specs) await ensureNode(kc, spec);
    // Agents start a few at a time: each opens its own watches.
    const queue = this.#specs.filter((s) => s.agent);
    const workers = Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let spec = queue.shift(); spec; spec = queue.shift()) await this.#startAgent(spec);
    });
    await Promise.all(workers);
    if (this.#o.kubevirt !== false) {
      const kv = this.#o.kubevirt ?? {};
      this.#kubevirt = await startKubevirtSimulator({
        kc,
        namespace: kv.namespace,
        stepDelayMs: kv.stepDelayMs ?? 100,
        failWhen: kv.failWhen,
        ...(kv.unschedulableTimeoutMs !== undefined ? { unschedulableTimeoutMs: kv.unschedulableTimeoutMs } : {}),
        allocateDevices: (vmi, target, vmim) => this.#allocate(vmi, target, vmim.metadata.uid),
        log: this.#log.child({ part: 'kubevirt-simulator' }),
      });
    }
    this.#log.info('Fleet started (stand-in nodes running the real agent)', { nodes: this.#specs.length, agents: this.#agents.size });
  }

  handle(): FleetHandle {
    return {
      namespace: this.#namespace,
      specs: this.#specs,
      nodeNames: this.#specs.map((s) => s.name),
      agent: (node) => this.#agents.get(node),
      kubevirt: () => this.#kubevirt,
      startVm: (spec) => this.#startVm(spec),
      stopAgent: (node) => this.#stopAgent(node),
      expireLease: async (node) => {
        await this.#stopAgent(node);
        await backdateLease(this.#o.kc, this.#namespace, node);
      },
      rediscover: async (node) => {
        const agents = node ? [this.#agents.get(node)] : [...this.#agents.values()];
        await Promise.all(agents.map((a) => a?.rediscover()));
      },
      tree: (node) => this.#trees.get(node),
      backend: (node) => this.#backends.get(node),
      stop: (o) => this.stop(o),
    };
  }

  async stop(opts: { deleteNodes?: boolean } = {}): Promise<void> {
    for (const b of this.#backends.values()) b.release(); // a held probe must not keep an agent from stopping
    await this.#kubevirt?.stop();
    await Promise.all([...this.#agents.values()].map((a) => a.stop()));
    this.#agents.clear();
    await this.#kubelet.stop();
    for (const tree of this.#trees.values()) tree.dispose();
    this.#trees.clear();
    this.#nvmlHosts.clear();
    if (opts.deleteNodes) {
      for (const spec of this.#specs) {
        await kubeRequest(this.#o.kc, { method: 'DELETE', path: resourcePath(NODES, { name: spec.name }) }).catch(() => undefined);
      }
    }
  }

  async #startAgent(spec: FleetNodeSpec): Promise<void> {
    const { tree } = buildNodeTree(spec);
    this.#trees.set(spec.name, tree);
    const io = new FakeSysfs(tree);
    const nvml = this.#nvmlHelper !== undefined && isNvidiaNode(spec) ? this.#nvmlHost(spec, tree) : undefined;
    const config: AgentConfig = {
      nodeName: spec.name,
      sysfsRoot: tree.layout.sysRoot,
      mdevctlRoot: tree.layout.mdevctlRoot,
      backend: nvml ? 'nvml' : 'simulated',
      nvmlHelper: nvml ? this.#nvmlHelper : undefined,
      podResourcesSocket: undefined,
      namespace: this.#namespace,
      resyncIntervalMs: this.#o.resyncIntervalMs ?? 5_000,
      leaseDurationMs: this.#o.leaseDurationMs ?? 40_000,
      leaseRenewMs: this.#o.leaseRenewMs ?? 10_000,
      metricsPort: 0,
      healthPort: 0,
      logLevel: 'info',
    };
    // The nvml backend as --backend nvml builds it, with the stand-in host's fixture in its environment.
    const backend = new HoldableBackend(nvml ? nvmlBackend({ helper: config.nvmlHelper, env: { MDEV_NVML_FIXTURE: nvml.fixturePath } }) : new SysfsBackend(io, 'simulated'));
    this.#backends.set(spec.name, backend);
    const agent = await startAgent(config, {
      kc: this.#o.kc,
      backend,
      io,
      podDevices: async () => this.#kubelet.podDevices(spec.name),
      serveHttp: false,
      logger: this.#log.child({ node: spec.name }),
    });
    this.#agents.set(spec.name, agent);
  }

  #nvmlHost(spec: FleetNodeSpec, tree: FakeTree): NvmlHost {
    const host = new NvmlHost(spec, tree, this.#guests);
    host.update(this.#kubelet.heldDevices(spec.name));
    this.#nvmlHosts.set(spec.name, host);
    return host;
  }

  async #stopAgent(node: string): Promise<void> {
    const agent = this.#agents.get(node);
    this.#agents.delete(node);
    await agent?.stop();
  }

  async #startVm(spec: StartVmSpec): Promise<StartedVm> {
    const { kc } = this.#o;
    const want = spec.devices ?? 1;
    const held = new Set(this.#kubelet.podDevices(spec.node).flatMap((p) => p.deviceIds));
    const free = (await listNodeDevices(kc, spec.node, this.#log)).filter(
      (d) =>
        !d.status?.consumer && !held.has(d.spec.id) && d.status?.migratable &&
        (spec.typeId === undefined || d.spec.type.id === spec.typeId) && (spec.parent === undefined || d.spec.parent.address === spec.parent),
    );
    const typeId = spec.typeId ?? free[0]?.spec.type.id;
    const chosen = free.filter((d) => d.spec.type.id === typeId).slice(0, want);
    if (chosen.length < want) throw new Error(`node ${spec.node} has ${chosen.length} free ${typeId ?? 'migratable'} device(s), ${want} needed for VMI ${spec.namespace}/${spec.name}`);
    const { vmi } = await createRunningVmi(kc, {
      namespace: spec.namespace,
      name: spec.name,
      nodeName: spec.node,
      gpus: chosen.map((d, i) => (spec.dra ? { name: `gpu${i}`, claimName: 'vgpu', requestName: `gpu${i}` } : { name: `gpu${i}`, deviceName: resourceOf(d) })),
      ...(spec.dra ? { resourceClaims: [{ name: 'vgpu', resourceClaimName: `${spec.name}-vgpu` }] } : {}),
      deviceIds: chosen.map((d) => d.spec.id),
      ...(spec.liveMigratable === false ? { liveMigratable: false } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
    });
    const names = chosen.map((d) => d.metadata.name).sort();
    await this.#waitForConsumers(spec.node, names, vmi.metadata.uid);
    return { vmi, devices: names };
  }

  async #waitForConsumers(node: string, names: readonly string[], uid: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.#agents.get(node)?.rediscover();
      const devices = await listNodeDevices(this.#o.kc, node, this.#log);
      // On an nvml node the device must also show its running vGPU (an Instance string) before the VM can be a source.
      const nvml = this.#nvmlHosts.has(node);
      const ready = (d: MdevDevice | undefined): boolean => d?.status?.consumer?.uid === uid && (!nvml || d.status.versionKind === 'Instance');
      if (names.every((n) => ready(devices.find((d) => d.metadata.name === n)))) return;
      if (Date.now() > deadline) throw new Error(`the agent of ${node} did not publish ${names.join(', ')} as used by VMI uid ${uid} within ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * Device-plugin stand-in at kubelet admission on `target`: for each device the VMI holds on its
   * source, one free device of the same resource, picked at random (the fleet's seed) among the
   * target's devices that no pod holds — what the kubelet does for KubeVirt's mediated-device
   * plugin, which advertises the mdevs of one type name as interchangeable. DRA entries are
   * allocated the same way (a DRA driver's allocator also takes any device matching the claim).
   */
  #allocate(vmi: Vmi, target: string, migrationJobUid: string): Promise<string[]> {
    // One admission at a time, as the kubelet's device manager allocates under its lock: two target
    // pods admitted together would otherwise both see the same device free.
    const run = this.#admitting.then(() => this.#allocateNow(vmi, target, migrationJobUid));
    this.#admitting = run.catch(() => undefined);
    return run;
  }

  async #allocateNow(vmi: Vmi, target: string, migrationJobUid: string): Promise<string[]> {
    const { kc } = this.#o;
    const sources = (await listAllDevices(kc, this.#log)).filter((d) => d.status?.consumer?.uid === vmi.metadata.uid);
    const requests = new Map<string, number>();
    for (const d of sources) requests.set(resourceOf(d), (requests.get(resourceOf(d)) ?? 0) + 1);
    // The kubelet's device manager knows its allocations from its own checkpoint, never from a
    // pod watch that may lag (after an API server outage it did, and two target pods got one
    // device). Ours: what it handed out, until its pod cache shows that pod bound with them
    // (onTargetPodBound); a retried admission of the same VMIM replaces its own.
    this.#allocations.delete(migrationJobUid);
    const pending = [...this.#allocations.values()].filter((a) => a.node === target).flatMap((a) => a.deviceIds);
    const held = new Set([...this.#kubelet.podDevices(target).flatMap((p) => p.deviceIds), ...pending]);
    const free = new Map<string, string[]>();
    for (const d of await listNodeDevices(kc, target, this.#log)) {
      if (d.status?.consumer || held.has(d.spec.id)) continue;
      free.set(resourceOf(d), [...(free.get(resourceOf(d)) ?? []), d.spec.id]);
    }
    const picked = allocate({ requests, free }, this.#random);
    if (!picked.ok) throw new Error(picked.reason);
    this.#allocations.set(migrationJobUid, { node: target, deviceIds: picked.deviceIds });
    return picked.deviceIds;
  }
}

/** The device-plugin resource a fleet device is advertised under (as NVIDIA's plugin names them). */
function resourceOf(d: MdevDevice): string {
  return `nvidia.com/${mdevPoolKey(d.spec.type).replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
}

async function listNodeDevices(kc: KubeConfig, node: string, log: Logger): Promise<MdevDevice[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_DEVICES), query: { labelSelector: `${LABEL_NODE}=${node}` } })) as { items?: unknown[] };
  return parseDevices(res.items ?? [], log).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
}

async function listAllDevices(kc: KubeConfig, log: Logger): Promise<MdevDevice[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_DEVICES) })) as { items?: unknown[] };
  return parseDevices(res.items ?? [], log);
}

function parseDevices(items: unknown[], log: Logger): MdevDevice[] {
  return items.flatMap((i) => parseFromWire('MdevDevice', { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevDevice', ...(i as object) }, log) ?? []);
}

export async function ensureNamespace(kc: KubeConfig, name: string): Promise<void> {
  try {
    await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

/**
 * Creates the Node (or updates labels, taints and cordon of an existing one), labelled as a KubeVirt
 * node is: `kubevirt.io/schedulable=true` (virt-handler's; a spec may override it, and the
 * hostname label too, whose value need not be the node's name).
 */
export async function ensureNode(kc: KubeConfig, spec: FleetNodeSpec): Promise<void> {
  const labels = { [LABEL_HOSTNAME]: spec.name, 'kubernetes.io/os': 'linux', [LABEL_SCHEDULABLE]: 'true', ...spec.labels };
  const nodeSpec = { unschedulable: spec.unschedulable, taints: spec.taints };
  try {
    await kubeRequest(kc, { method: 'POST', path: resourcePath(NODES), body: { apiVersion: 'v1', kind: 'Node', metadata: { name: spec.name, labels }, spec: nodeSpec } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  // The API server's TaintNodesByCondition admission adds node.kubernetes.io/not-ready on create;
  // a kubelet would report Ready and the node lifecycle controller drop the taint. The stand-in
  // does both: the taints are exactly the profile's, and the node reports Ready.
  await mergePatch(kc, NODES, { name: spec.name }, { metadata: { labels }, spec: nodeSpec });
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await mergePatch(kc, NODES, { name: spec.name }, {
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'stand-in kubelet of the simulated fleet', lastHeartbeatTime: now, lastTransitionTime: now }] },
  }, { subresource: 'status' });
}

/** Moves the agent Lease's renewTime an hour back: the controller sees the agent as gone. */
export async function backdateLease(kc: KubeConfig, namespace: string, node: string): Promise<void> {
  try {
    await mergePatch(kc, LEASES, { namespace, name: agentLeaseName(node) }, { spec: { renewTime: toMicroTime(Date.now() - 3_600_000) } });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
