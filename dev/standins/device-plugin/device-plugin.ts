// A device-plugin STAND-IN for the real kubelet: it advertises a fake sysfs tree's mdev UUIDs
// under one KubeVirt-style resource name (e.g. nvidia.com/GRID_H100-4C) through the kubelet's
// device-plugin API v1beta1, modelled on NVIDIA's kubevirt-gpu-device-plugin (vGPU mode): device
// IDs are the mdev UUIDs, every device is Healthy, and Allocate answers with the environment
// variable KubeVirt's virt-launcher reads, MDEV_PCI_RESOURCE_<RESOURCE NAME> = the UUIDs. It returns
// no /dev/vfio device nodes: the fake tree has none (a real plugin mounts /dev/vfio/<group>).
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

/** The kubelet's device-plugin directory: hard-coded in the kubelet, whatever its --root-dir. */
export const DEVICE_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
export const API_VERSION = 'v1beta1';

export interface DevicePluginStandinOptions {
  /** Extended resource name, e.g. nvidia.com/GRID_H100-4C. */
  resourceName: string;
  /** Device IDs the plugin advertises: the mdev UUIDs. */
  deviceIds: string[];
  /** Socket file name in the plugin directory. */
  socketName?: string;
  dir?: string;
}

export interface DevicePluginStandin {
  /** Device IDs of every Allocate call the kubelet made, in order. */
  readonly allocations: string[][];
  stop(): Promise<void>;
}

/** KubeVirt's name for the variable a device plugin sets: MDEV_PCI_RESOURCE_NVIDIA_COM_GRID_H100-4C. */
export function mdevEnvName(resourceName: string): string {
  return `MDEV_PCI_RESOURCE_${resourceName.toUpperCase().replace(/[./]/g, '_')}`;
}

interface Service { service: grpc.ServiceDefinition }
interface Package { v1beta1: { DevicePlugin: Service; Registration: grpc.ServiceClientConstructor & Service } }

function loadApi(): Package {
  const file = fileURLToPath(new URL('./deviceplugin-v1beta1.proto', import.meta.url));
  const def = protoLoader.loadSync(file, { keepCase: true, longs: String, enums: String, defaults: true, arrays: true });
  return grpc.loadPackageDefinition(def) as unknown as Package;
}

export async function startDevicePluginStandin(opts: DevicePluginStandinOptions): Promise<DevicePluginStandin> {
  const api = loadApi();
  const dir = opts.dir ?? DEVICE_PLUGIN_DIR;
  const socketName = opts.socketName ?? `mdev-standin-${process.pid}.sock`;
  const socket = join(dir, socketName);
  mkdirSync(dir, { recursive: true });
  rmSync(socket, { force: true });
  const allocations: string[][] = [];
  const streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const devices = opts.deviceIds.map((ID) => ({ ID, health: 'Healthy' }));

  const server = new grpc.Server();
  server.addService(api.v1beta1.DevicePlugin.service, {
    GetDevicePluginOptions: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { pre_start_required: false, get_preferred_allocation_available: false }),
    // The kubelet keeps this stream open and treats its end as the plugin going away.
    ListAndWatch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      streams.add(call);
      call.write({ devices });
      call.on('cancelled', () => streams.delete(call));
    },
    GetPreferredAllocation: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { container_responses: [] }),
    Allocate: (call: grpc.ServerUnaryCall<{ container_requests: { devices_ids: string[] }[] }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const unknownIds = call.request.container_requests.flatMap((r) => r.devices_ids).filter((id) => !opts.deviceIds.includes(id));
      if (unknownIds.length > 0) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: `unknown device(s) ${unknownIds.join(', ')}` });
        return;
      }
      cb(null, {
        container_responses: call.request.container_requests.map((r) => {
          allocations.push([...r.devices_ids]);
          return { envs: { [mdevEnvName(opts.resourceName)]: r.devices_ids.join(',') } };
        }),
      });
    },
    PreStartContainer: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));

  try {
    await register(api, dir, { version: API_VERSION, endpoint: socketName, resource_name: opts.resourceName, options: { pre_start_required: false, get_preferred_allocation_available: false } });
  } catch (err) {
    server.forceShutdown();
    rmSync(socket, { force: true });
    throw err;
  }

  return {
    allocations,
    stop: async () => {
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      rmSync(socket, { force: true });
    },
  };
}

/** Registration.Register on the kubelet's socket: the kubelet then dials us back on `endpoint`. */
function register(api: Package, dir: string, request: Record<string, unknown>): Promise<void> {
  const client = new api.v1beta1.Registration(`unix://${join(dir, 'kubelet.sock')}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as unknown as { Register: (r: unknown, o: { deadline: number }, cb: (e: grpc.ServiceError | null) => void) => void })
      .Register(request, { deadline: Date.now() + 10_000 }, (err) => {
        client.close();
        if (err) reject(new Error(`the kubelet refused the device-plugin registration of ${String(request.resource_name)}: ${err.message}`));
        else resolve();
      });
  });
}
