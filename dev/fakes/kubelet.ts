// STAND-IN for the kubelet's PodResources endpoint: a real gRPC server speaking the same
// v1.PodResourcesLister proto on a unix socket, serving whatever list it is given. For tests and
// the fleet simulator only; nothing here is used against a real node.
import { lstat, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { podResourcesService } from '../../src/agent/podresources/proto.ts';
import type { PodDevices } from '../../src/agent/podresources/types.ts';

/** PodResources as the proto-loader JS shape (camelCase); CPU, memory and DRA fields omitted. */
export type FakeContainerDevices = { resourceName: string; deviceIds: string[]; topology?: { nodes: { ID: number }[] } };
export type FakePodResources = {
  name: string;
  namespace: string;
  containers: { name: string; devices: FakeContainerDevices[] }[];
};

export type FakeKubelet = {
  socketPath: string;
  /** Replaces what List, Get and (unless set separately) GetAllocatableResources serve. */
  setPodResources(list: FakePodResources[]): void;
  /** Overrides GetAllocatableResources; by default it reports every device in the pod list. */
  setAllocatable(devices: FakeContainerDevices[] | undefined): void;
  /** Stops answering List (calls wait) until `release`: how tests provoke a client deadline. */
  hold(): void;
  release(): void;
  /** How many List calls arrived, answered or not. */
  listCalls(): number;
  /** Stops the server and removes the socket (and the temp dir it created). */
  close(): Promise<void>;
};

export type FakeKubeletOptions = { socketPath?: string; podResources?: FakePodResources[] };

// sockaddr_un.sun_path is 108 bytes including the NUL.
const MAX_SOCKET_PATH = 107;

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
  const server = new grpc.Server();
  server.addService(podResourcesService(), {
    List: (_call: unknown, answer: grpc.sendUnaryData<object>) => {
      state.calls += 1;
      const reply = () => answer(null, { podResources: state.pods });
      if (state.holding) state.held.push(reply);
      else reply();
    },
    GetAllocatableResources: (_call: unknown, answer: grpc.sendUnaryData<object>) => {
      answer(null, { devices: state.allocatable ?? allDevices(state.pods) });
    },
    Get: (call: grpc.ServerUnaryCall<{ podName: string; podNamespace: string }, object>, answer: grpc.sendUnaryData<object>) => {
      const { podName, podNamespace } = call.request;
      const pod = state.pods.find((p) => p.name === podName && p.namespace === podNamespace);
      // The kubelet answers a plain error (gRPC UNKNOWN) with this text for an unknown pod.
      if (!pod) answer({ code: grpc.status.UNKNOWN, details: `pod ${podName} in namespace ${podNamespace} not found` });
      else answer(null, { podResources: pod });
    },
  });
  await bind(server, socketPath);

  return {
    socketPath,
    setPodResources: (list) => {
      state.pods = list;
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

/** Groups flat PodDevices (the client's output shape) back into the kubelet's nested shape. */
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
    container.devices.push({ resourceName: e.resourceName, deviceIds: [...e.deviceIds] });
  }
  return [...pods.values()];
}

function allDevices(pods: readonly FakePodResources[]): FakeContainerDevices[] {
  return pods.flatMap((p) => p.containers.flatMap((c) => c.devices));
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
