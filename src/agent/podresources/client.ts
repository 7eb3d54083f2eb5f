// Client of the kubelet PodResources v1 API over its unix socket: which pod and container holds
// which device on this node (device-plugin devices and DRA claim devices). One short-lived connection per call: the agent asks
// once per discovery pass, and a fresh connection never serves an answer from a dead kubelet.
import { stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { METHOD_PATHS, podResourcesMethod } from './proto.ts';
import type { ClaimDevice, PodDevices, PodResourceEntry } from './types.ts';

/** Where the kubelet serves the API on every node (hostPath-mount its directory into the agent). */
export const DEFAULT_PODRESOURCES_SOCKET = '/var/lib/kubelet/pod-resources/kubelet.sock';
/** The kubelet's own PodResources client uses the same 10 s connection timeout. */
export const DEFAULT_PODRESOURCES_TIMEOUT_MS = 10_000;
/** Upstream's client limit too: a node with hundreds of pods exceeds gRPC's 4 MiB default. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export type PodResourcesErrorCode =
  | 'socket-missing' // nothing at the path
  | 'not-a-socket' // something at the path, but not a socket
  | 'unavailable' // a socket nobody answers on, or one we may not open
  | 'deadline' // the kubelet accepted but did not answer in time
  | 'unimplemented' // a kubelet without PodResources v1
  | 'rate-limited' // the kubelet's limiter (100 requests/s, burst 10, shared by every client) refused
  | 'failed'; // any other gRPC status or an undecodable answer

/** A failure to read PodResources; `message` names the socket and the remedy. */
export class PodResourcesError extends Error {
  readonly code: PodResourcesErrorCode;
  readonly socketPath: string;
  constructor(code: PodResourcesErrorCode, socketPath: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PodResourcesError';
    this.code = code;
    this.socketPath = socketPath;
  }
}

export type ListOptions = { timeoutMs?: number };

/**
 * Every device a container on the node holds: device-plugin devices per (pod, container,
 * resource), each id once, and DRA claim devices per (pod, container, claim, device).
 */
export async function listPodResources(socketPath: string, options: ListOptions = {}): Promise<PodResourceEntry[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_PODRESOURCES_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`PodResources timeout must be a positive number of milliseconds, got ${timeoutMs}`);
  }
  await checkSocket(socketPath);
  const answer = await callList(socketPath, timeoutMs);
  const parsed = ListResponse.safeParse(answer);
  if (!parsed.success) {
    throw new PodResourcesError(
      'failed',
      socketPath,
      `kubelet PodResources socket ${socketPath} sent an answer that is not a v1 ListPodResourcesResponse ` +
        `(${parsed.error.issues[0]?.message ?? 'unknown shape'}): check that the socket is the kubelet's`,
    );
  }
  return flatten(parsed.data);
}

// Checked before dialing because gRPC reports a missing path and a refused connection alike
// (UNAVAILABLE), and the remedies differ: mount the socket vs. fix the kubelet.
async function checkSocket(socketPath: string): Promise<void> {
  let info;
  try {
    info = await stat(socketPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PodResourcesError(
        'socket-missing',
        socketPath,
        `kubelet PodResources socket ${socketPath} does not exist: mount the host's ` +
          '/var/lib/kubelet/pod-resources into the agent (hostPath) or pass --podresources-socket ' +
          'with the path the kubelet serves',
        err,
      );
    }
    throw new PodResourcesError(
      'unavailable',
      socketPath,
      `cannot inspect kubelet PodResources socket ${socketPath} (${code ?? String(err)}): ` +
        'the agent needs read access to the pod-resources directory (run it as root)',
      err,
    );
  }
  if (!info.isSocket()) {
    throw new PodResourcesError(
      'not-a-socket',
      socketPath,
      `${socketPath} is not a unix socket: point --podresources-socket at the kubelet's PodResources ` +
        `socket (normally ${DEFAULT_PODRESOURCES_SOCKET})`,
    );
  }
}

function callList(socketPath: string, timeoutMs: number): Promise<unknown> {
  const method = podResourcesMethod(METHOD_PATHS.list);
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    // Fail fast on a dead socket; the agent's discovery loop is the retry.
    'grpc.enable_retries': 0,
  });
  return new Promise<unknown>((resolve, reject) => {
    client.makeUnaryRequest<object, object>(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      {},
      { deadline: Date.now() + timeoutMs },
      (err, value) => {
        client.close();
        if (err) reject(translateStatus(err, socketPath, timeoutMs));
        else resolve(value);
      },
    );
  });
}

function translateStatus(err: grpc.ServiceError, socketPath: string, timeoutMs: number): PodResourcesError {
  const detail = err.details || err.message;
  switch (err.code) {
    case grpc.status.DEADLINE_EXCEEDED:
      return new PodResourcesError(
        'deadline',
        socketPath,
        `kubelet PodResources List on ${socketPath} did not answer within ${timeoutMs} ms: ` +
          'check that the kubelet is healthy, or raise the timeout',
        err,
      );
    case grpc.status.UNAVAILABLE:
      return new PodResourcesError(
        'unavailable',
        socketPath,
        `kubelet PodResources socket ${socketPath} refused the connection (${detail}): check that the ` +
          'kubelet is running and that the agent may open the socket (it needs root)',
        err,
      );
    case grpc.status.UNIMPLEMENTED:
      return new PodResourcesError(
        'unimplemented',
        socketPath,
        `the server on ${socketPath} does not implement v1.PodResourcesLister/List (${detail}): ` +
          'the kubelet must be Kubernetes 1.20 or later with the PodResources v1 API',
        err,
      );
    case grpc.status.RESOURCE_EXHAUSTED:
      return new PodResourcesError(
        'rate-limited',
        socketPath,
        `kubelet PodResources on ${socketPath} refused the call by its rate limit (${detail}): another ` +
          'client on the node calls the socket too often (the kubelet allows 100 calls/s with a burst of 10 for all clients together)',
        err,
      );
    default:
      return new PodResourcesError(
        'failed',
        socketPath,
        `kubelet PodResources List on ${socketPath} failed with ${grpc.status[err.code] ?? err.code} ` +
          `(${detail}): see the kubelet log`,
        err,
      );
  }
}

// Only the fields the agent uses; zod drops the rest (CPU ids, memory, topology, CDI devices,
// share ids). Fields a kubelet may leave out (older versions, proto3 defaults) default to empty.
const ClaimResource = z.object({ driverName: z.string(), poolName: z.string(), deviceName: z.string() });
const ListResponse = z.object({
  podResources: z.array(
    z.object({
      name: z.string(),
      namespace: z.string(),
      containers: z.array(
        z.object({
          name: z.string(),
          devices: z.array(z.object({ resourceName: z.string(), deviceIds: z.array(z.string()) })).default([]),
          dynamicResources: z
            .array(z.object({ claimName: z.string(), claimNamespace: z.string(), claimResources: z.array(ClaimResource).default([]) }))
            .default([]),
        }),
      ),
    }),
  ),
});

type Container = z.infer<typeof ListResponse>['podResources'][number]['containers'][number];

function flatten(response: z.infer<typeof ListResponse>): PodResourceEntry[] {
  const out: PodResourceEntry[] = [];
  for (const pod of response.podResources) {
    for (const container of pod.containers) {
      const where = { namespace: pod.namespace, pod: pod.name, container: container.name };
      out.push(...pluginDevices(where, container), ...claimDevices(where, container));
    }
  }
  return out;
}

type Where = { namespace: string; pod: string; container: string };

// The kubelet sends one ContainerDevices per device id *and NUMA node* (devicemanager's
// getContainerDevices + containerDevicesFromResourceDeviceInstances), so a device on two NUMA
// nodes arrives twice; regroup per resource with each id once, in the kubelet's order.
function pluginDevices(where: Where, container: Container): PodDevices[] {
  const byResource = new Map<string, Set<string>>();
  for (const d of container.devices) {
    const ids = byResource.get(d.resourceName) ?? new Set<string>();
    byResource.set(d.resourceName, ids);
    for (const id of d.deviceIds) ids.add(id);
  }
  return [...byResource].filter(([, ids]) => ids.size > 0).map(([resourceName, ids]) => ({ ...where, resourceName, deviceIds: [...ids] }));
}

// A claim device is named by (driver, pool, device). Its CDI device names are not used: the 1.36
// kubelet accumulates them across one driver's devices of a claim (GetDynamicResources), so a
// ClaimResource may list CDI names of other devices too.
function claimDevices(where: Where, container: Container): ClaimDevice[] {
  const out: ClaimDevice[] = [];
  for (const claim of container.dynamicResources) {
    for (const r of claim.claimResources) {
      if (r.deviceName === '') continue; // upstream keeps an empty device_name for future non-device DRA resources
      out.push({ ...where, claim: { namespace: claim.claimNamespace, name: claim.claimName }, driver: r.driverName, pool: r.poolName, device: r.deviceName });
    }
  }
  return out;
}
