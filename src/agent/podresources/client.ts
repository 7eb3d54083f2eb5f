// Client of the kubelet PodResources v1 API over its unix socket: which pod and container holds
// which device-plugin device on this node. One short-lived connection per call: the agent asks
// once per discovery pass, and a fresh connection never serves an answer from a dead kubelet.
import { stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';
import { METHOD_PATHS, podResourcesMethod } from './proto.ts';
import type { PodDevices } from './types.ts';

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

/** Every (pod, container, resource) on the node that holds at least one device-plugin device. */
export async function listPodResources(socketPath: string, options: ListOptions = {}): Promise<PodDevices[]> {
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

// Only the fields the agent uses; zod drops the rest (CPU, memory, DRA).
const ListResponse = z.object({
  podResources: z.array(
    z.object({
      name: z.string(),
      namespace: z.string(),
      containers: z.array(
        z.object({
          name: z.string(),
          devices: z.array(z.object({ resourceName: z.string(), deviceIds: z.array(z.string()) })),
        }),
      ),
    }),
  ),
});

function flatten(response: z.infer<typeof ListResponse>): PodDevices[] {
  const out: PodDevices[] = [];
  for (const pod of response.podResources) {
    for (const container of pod.containers) {
      for (const devices of container.devices) {
        if (devices.deviceIds.length === 0) continue;
        out.push({
          namespace: pod.namespace,
          pod: pod.name,
          container: container.name,
          resourceName: devices.resourceName,
          deviceIds: [...devices.deviceIds],
        });
      }
    }
  }
  return out;
}
