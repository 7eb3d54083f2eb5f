// STAND-IN for the kubelet's PodResources endpoint: a real gRPC server on a unix socket serving
// v1.PodResourcesLister and v1alpha1.PodResourcesLister, like the 1.36 kubelet does on one socket
// (pkg/kubelet/server/server.go ListenAndServePodResources). It is given what each container was
// allocated and answers in the kubelet's wire shape, modelled on its source at 1.36.3:
//  - v1 List/Get: every container (restartable init containers first, then regular ones, as
//    server_v1.go), devices as one ContainerDevices per device id and NUMA node (cm's
//    containerDevicesFromResourceDeviceInstances: a device on two NUMA nodes comes twice, a device
//    without topology once, without topology), empty cpu_ids/memory, and DRA claims with the CDI
//    device names accumulated per driver across a claim's devices (GetDynamicResources);
//  - v1alpha1 List: regular containers only, the same device entries without topology, no DRA;
//  - GetAllocatableResources: device-plugin devices only (DRA devices are not reported there);
//  - Get of an unknown pod: gRPC UNKNOWN "pod <name> in namespace <ns> not found";
//  - the kubelet's rate limit on the socket (100 calls/s, burst 10, shared by every method):
//    RESOURCE_EXHAUSTED "rejected by rate limit" beyond it.
// For tests and the fleet simulator only; nothing here is used against a real node.
import { lstat, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, podResourcesProtoPath, podResourcesService } from '../../src/agent/podresources/proto.ts';
import type { PodDevices } from '../../src/agent/podresources/types.ts';
import { realClock, type Clock } from '../../src/kube/clock.ts';

/** Devices of one resource the device manager allocated to a container, with the NUMA nodes the plugin reported. */
export type FakeContainerDevices = { resourceName: string; deviceIds: string[]; topology?: { nodes: { ID: number }[] } };

/** One device of a DRA claim as the DRA manager prepared it. */
export type FakeClaimDevice = { driverName: string; poolName: string; deviceName: string; cdiDevices?: string[]; shareId?: string };

/** A ResourceClaim a container uses, with the devices allocated to it. */
export type FakeClaim = { claimName: string; claimNamespace: string; devices: FakeClaimDevice[] };

export type FakeContainer = {
  name: string;
  devices?: FakeContainerDevices[];
  dynamicResources?: FakeClaim[];
  /** An init container; `restartable` (a sidecar) ones are reported by v1, plain ones by nobody. */
  init?: 'restartable' | 'plain';
};

/** What the stand-in knows of one pod: its containers' allocations (the kubelet's view, not the wire shape). */
export type FakePodResources = { name: string; namespace: string; containers: FakeContainer[] };

export type FakeKubelet = {
  socketPath: string;
  /** Replaces what List, Get and (unless set separately) GetAllocatableResources serve. */
  setPodResources(list: FakePodResources[]): void;
  /** Overrides GetAllocatableResources; by default it reports every device-plugin device in the pod list. */
  setAllocatable(devices: FakeContainerDevices[] | undefined): void;
  /** Stops answering List (calls wait) until `release`: how tests provoke a client deadline. */
  hold(): void;
  release(): void;
  /** How many List calls arrived (v1 and v1alpha1), answered or not. */
  listCalls(): number;
  /** Stops the server and removes the socket (and the temp dir it created). */
  close(): Promise<void>;
};

export type FakeKubeletOptions = {
  socketPath?: string;
  podResources?: FakePodResources[];
  /** The rate limiter's clock; a fake clock that never advances makes call 11 the first refused. */
  clock?: Clock;
};

// sockaddr_un.sun_path is 108 bytes including the NUL.
const MAX_SOCKET_PATH = 107;
// pkg/kubelet/apis/podresources/constants.go
const RATE_QPS = 100;
const RATE_BURST = 10;

/** Starts the stand-in; without `socketPath` it listens on kubelet.sock in a fresh temp dir. */
export async function startFakeKubelet(options: FakeKubeletOptions = {}): Promise<FakeKubelet> {
  const ownDir = options.socketPath === undefined ? await mkdtemp(join(tmpdir(), 'mdev-kubelet-')) : undefined;
  const socketPath = options.socketPath ?? join(ownDir as string, 'kubelet.sock');
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new Error(`fake kubelet socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes: use a shorter directory`);
  }
  await removeStaleSocket(socketPath);

  const state = {
    pods: options.podResources ?? [],
    allocatable: undefined as FakeContainerDevices[] | undefined,
    holding: false,
    held: [] as (() => void)[],
    calls: 0,
  };
  const allow = rateLimiter(options.clock ?? realClock);
  type Answer = grpc.sendUnaryData<object>;
  const limited = <Req>(handler: (call: Req, answer: Answer) => void) => (call: Req, answer: Answer) => {
    if (!allow()) answer({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'rejected by rate limit' });
    else handler(call, answer);
  };
  const list = (render: (pod: FakePodResources) => object) => limited((_call: unknown, answer: Answer) => {
    state.calls += 1;
    const reply = () => answer(null, { podResources: state.pods.map(render) });
    if (state.holding) state.held.push(reply);
    else reply();
  });

  const server = new grpc.Server();
  server.addService(podResourcesService(), {
    List: list(v1Pod),
    GetAllocatableResources: limited((_call: unknown, answer: Answer) => {
      answer(null, { devices: (state.allocatable ?? allDevices(state.pods)).flatMap(perNumaNode), cpuIds: [], memory: [] });
    }),
    Get: limited((call: grpc.ServerUnaryCall<{ podName: string; podNamespace: string }, object>, answer: Answer) => {
      const { podName, podNamespace } = call.request;
      const pod = state.pods.find((p) => p.name === podName && p.namespace === podNamespace);
      // The kubelet answers a plain error (gRPC UNKNOWN) with this text for an unknown pod.
      if (!pod) answer({ code: grpc.status.UNKNOWN, details: `pod ${podName} in namespace ${podNamespace} not found` });
      else answer(null, { podResources: v1Pod(pod) });
    }),
  });
  server.addService(v1alpha1Service(), { List: list(v1alpha1Pod) });
  await bind(server, socketPath);

  return {
    socketPath,
    setPodResources: (pods) => {
      state.pods = pods;
    },
    setAllocatable: (devices) => {
      state.allocatable = devices;
    },
    hold: () => {
      state.holding = true;
    },
    release: () => {
      state.holding = false;
      for (const reply of state.held.splice(0)) reply();
    },
    listCalls: () => state.calls,
    close: async () => {
      state.held.length = 0;
      server.forceShutdown();
      await rm(socketPath, { force: true });
      if (ownDir) await rm(ownDir, { recursive: true, force: true });
    },
  };
}

/** v1: restartable init containers, then regular ones (server_v1.go getContainerResources). */
function v1Pod(pod: FakePodResources): object {
  const reported = [...pod.containers.filter((c) => c.init === 'restartable'), ...pod.containers.filter((c) => c.init === undefined)];
  return {
    name: pod.name,
    namespace: pod.namespace,
    containers: reported.map((c) => ({
      name: c.name,
      devices: (c.devices ?? []).flatMap(perNumaNode),
      cpuIds: [],
      memory: [],
      dynamicResources: (c.dynamicResources ?? []).map(claimResources),
    })),
  };
}

/** v1alpha1: regular containers only, device entries as v1 has them minus topology (v1DevicesToAlphaV1). */
function v1alpha1Pod(pod: FakePodResources): object {
  return {
    name: pod.name,
    namespace: pod.namespace,
    containers: pod.containers
      .filter((c) => c.init === undefined)
      .map((c) => ({ name: c.name, devices: (c.devices ?? []).flatMap(perNumaNode).map(({ resourceName, deviceIds }) => ({ resourceName, deviceIds })) })),
  };
}

/** One entry per device id and NUMA node; a device without topology once, without it. */
function perNumaNode(d: FakeContainerDevices): FakeContainerDevices[] {
  const nodes = d.topology?.nodes ?? [];
  return d.deviceIds.flatMap((id) =>
    nodes.length === 0
      ? [{ resourceName: d.resourceName, deviceIds: [id] }]
      : nodes.map((n) => ({ resourceName: d.resourceName, deviceIds: [id], topology: { nodes: [{ ID: n.ID }] } })),
  );
}

// The 1.36 kubelet declares the CDI list once per driver and appends each device's CDI ids to it,
// so every ClaimResource of a driver carries the CDI names of that driver's earlier devices too.
function claimResources(claim: FakeClaim): object {
  const cdiSoFar = new Map<string, { name: string }[]>();
  const resources = claim.devices.map((d) => {
    const cdi = cdiSoFar.get(d.driverName) ?? [];
    cdi.push(...(d.cdiDevices ?? []).map((name) => ({ name })));
    cdiSoFar.set(d.driverName, cdi);
    const r: Record<string, unknown> = { cdiDevices: [...cdi], driverName: d.driverName, poolName: d.poolName, deviceName: d.deviceName };
    if (d.shareId !== undefined) r.shareId = d.shareId;
    return r;
  });
  return { claimName: claim.claimName, claimNamespace: claim.claimNamespace, claimResources: resources };
}

/** A token bucket like golang.org/x/time/rate's: RATE_BURST tokens, refilled at RATE_QPS. */
function rateLimiter(clock: Clock): () => boolean {
  let tokens = RATE_BURST;
  let last = clock.now();
  return () => {
    const now = clock.now();
    tokens = Math.min(RATE_BURST, tokens + ((now - last) / 1000) * RATE_QPS);
    last = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

let alphaService: protoLoader.ServiceDefinition | undefined;

function v1alpha1Service(): protoLoader.ServiceDefinition {
  if (alphaService) return alphaService;
  const file = podResourcesProtoPath().replace(/\/v1\/api\.proto$/, '/v1alpha1/api.proto');
  alphaService = protoLoader.loadSync(file, LOADER_OPTIONS)['v1alpha1.PodResourcesLister'] as protoLoader.ServiceDefinition;
  return alphaService;
}

/** Groups flat PodDevices (the client's output shape) back into the stand-in's per-container shape. */
export function podResourcesFromPodDevices(entries: readonly PodDevices[]): FakePodResources[] {
  const pods = new Map<string, FakePodResources>();
  for (const e of entries) {
    const key = `${e.namespace}/${e.pod}`;
    const pod = pods.get(key) ?? { name: e.pod, namespace: e.namespace, containers: [] };
    pods.set(key, pod);
    let container = pod.containers.find((c) => c.name === e.container);
    if (!container) {
      container = { name: e.container, devices: [] };
      pod.containers.push(container);
    }
    (container.devices ??= []).push({ resourceName: e.resourceName, deviceIds: [...e.deviceIds] });
  }
  return [...pods.values()];
}

function allDevices(pods: readonly FakePodResources[]): FakeContainerDevices[] {
  return pods.flatMap((p) => p.containers.flatMap((c) => c.devices ?? []));
}

// The kubelet also unlinks a leftover socket before listening; anything else at the path is
// left alone so a mistaken path cannot delete a real file.
async function removeStaleSocket(socketPath: string): Promise<void> {
  const info = await lstat(socketPath).catch(() => undefined);
  if (info?.isSocket()) await unlink(socketPath);
}

function bind(server: grpc.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) reject(new Error(`fake kubelet could not listen on ${socketPath}: ${err.message}`, { cause: err }));
      else resolve();
    });
  });
}
