import { expect } from 'chai';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { listPodResources, PodResourcesError } from '../../../src/agent/podresources/client.ts';
import {
  podResourcesFromPodDevices,
  startFakeKubelet,
  type FakeKubelet,
  type FakePodResources,
} from '../../../dev/fakes/kubelet.ts';
import type { PodDevices } from '../../../src/agent/podresources/types.ts';
import protoLoader from '@grpc/proto-loader';
import { LOADER_OPTIONS, podResourcesProtoPath } from '../../../src/agent/podresources/proto.ts';
import { FakeClock } from '../kube/fakes.ts';

const MDEV_A = 'a1b2c3d4-0000-4000-8000-00000000000a';
const MDEV_B = 'a1b2c3d4-0000-4000-8000-00000000000b';

const PODS: FakePodResources[] = [
  {
    name: 'virt-launcher-vm1-abcde',
    namespace: 'tenant-a',
    containers: [
      {
        name: 'compute',
        devices: [
          { resourceName: 'devices.kubevirt.io/kvm', deviceIds: ['kvm3'] },
          { resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_A, MDEV_B], topology: { nodes: [{ ID: 0 }, { ID: 1 }] } },
          { resourceName: 'nvidia.com/empty', deviceIds: [] },
        ],
      },
    ],
  },
  { name: 'plain-pod', namespace: 'tenant-b', containers: [{ name: 'app', devices: [] }] },
  {
    name: 'virt-launcher-vm2-fghij',
    namespace: 'tenant-b',
    containers: [
      { name: 'compute', devices: [{ resourceName: 'intel.com/sriov_vf', deviceIds: ['0000:81:00.2'] }] },
      { name: 'hook-sidecar-0', devices: [{ resourceName: 'example.com/other', deviceIds: ['x1'] }] },
    ],
  },
  {
    name: 'virt-launcher-vm3-klmno',
    namespace: 'tenant-c',
    containers: [
      {
        name: 'compute',
        dynamicResources: [
          {
            claimName: 'vm3-gpu',
            claimNamespace: 'tenant-c',
            devices: [
              { driverName: 'gpu.example.com', poolName: 'worker-1', deviceName: 'vgpu-0', cdiDevices: ['gpu.example.com/vgpu=vgpu-0'] },
              { driverName: 'gpu.example.com', poolName: 'worker-1', deviceName: 'vgpu-1', cdiDevices: ['gpu.example.com/vgpu=vgpu-1'] },
            ],
          },
        ],
      },
      { name: 'init-plain', init: 'plain', devices: [{ resourceName: 'example.com/init', deviceIds: ['i1'] }] },
    ],
  },
];

async function expectRejection(promise: Promise<unknown>): Promise<PodResourcesError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(PodResourcesError);
    return err as PodResourcesError;
  }
  throw new Error('expected listPodResources to reject');
}

describe('PodResources client ↔ fake kubelet (kubelet stand-in, real gRPC over a unix socket)', () => {
  let kubelet: FakeKubelet;
  beforeEach(async () => {
    kubelet = await startFakeKubelet({ podResources: PODS });
  });
  afterEach(async () => {
    await kubelet.close();
  });

  it('flattens every pod, container and resource that holds devices, each id once though the kubelet sends one entry per id and NUMA node', async () => {
    const got = await listPodResources(kubelet.socketPath, { timeoutMs: 5000 });
    const claim = { namespace: 'tenant-c', pod: 'virt-launcher-vm3-klmno', container: 'compute', claim: { namespace: 'tenant-c', name: 'vm3-gpu' }, driver: 'gpu.example.com', pool: 'worker-1' };
    expect(got).to.deep.equal([
      { namespace: 'tenant-a', pod: 'virt-launcher-vm1-abcde', container: 'compute', resourceName: 'devices.kubevirt.io/kvm', deviceIds: ['kvm3'] },
      { namespace: 'tenant-a', pod: 'virt-launcher-vm1-abcde', container: 'compute', resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_A, MDEV_B] },
      { namespace: 'tenant-b', pod: 'virt-launcher-vm2-fghij', container: 'compute', resourceName: 'intel.com/sriov_vf', deviceIds: ['0000:81:00.2'] },
      { namespace: 'tenant-b', pod: 'virt-launcher-vm2-fghij', container: 'hook-sidecar-0', resourceName: 'example.com/other', deviceIds: ['x1'] },
      { ...claim, device: 'vgpu-0' },
      { ...claim, device: 'vgpu-1' },
    ]);
  });

  it('answers v1 List in the 1.36 kubelet\'s shape: per id and NUMA node, CDI names accumulated per driver, no plain init containers', async () => {
    const answer = (await rawList(kubelet.socketPath, 'v1')) as { podResources: { name: string; containers: { name: string; devices: unknown[]; dynamicResources: { claimResources: { deviceName: string; cdiDevices: { name: string }[] }[] }[] }[] }[] };
    const vm1 = answer.podResources.find((p) => p.name === 'virt-launcher-vm1-abcde');
    expect(vm1?.containers[0]?.devices).to.deep.equal([
      { resourceName: 'devices.kubevirt.io/kvm', deviceIds: ['kvm3'], topology: null },
      { resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_A], topology: { nodes: [{ ID: '0' }] } },
      { resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_A], topology: { nodes: [{ ID: '1' }] } },
      { resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_B], topology: { nodes: [{ ID: '0' }] } },
      { resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_B], topology: { nodes: [{ ID: '1' }] } },
    ]);
    const vm3 = answer.podResources.find((p) => p.name === 'virt-launcher-vm3-klmno');
    expect(vm3?.containers.map((c) => c.name)).to.deep.equal(['compute']);
    const resources = vm3?.containers[0]?.dynamicResources[0]?.claimResources ?? [];
    expect(resources.map((r) => [r.deviceName, r.cdiDevices.map((c) => c.name)])).to.deep.equal([
      ['vgpu-0', ['gpu.example.com/vgpu=vgpu-0']],
      ['vgpu-1', ['gpu.example.com/vgpu=vgpu-0', 'gpu.example.com/vgpu=vgpu-1']],
    ]);
  });

  it('serves v1alpha1 List too, as the kubelet does: device-plugin devices only, no topology, no DRA', async () => {
    const answer = (await rawList(kubelet.socketPath, 'v1alpha1')) as { podResources: { name: string; containers: { name: string; devices: unknown[] }[] }[] };
    const vm1 = answer.podResources.find((p) => p.name === 'virt-launcher-vm1-abcde');
    expect(vm1?.containers[0]?.devices).to.deep.include({ resourceName: 'nvidia.com/GRID_T4-1Q', deviceIds: [MDEV_A] });
    expect(vm1?.containers[0]?.devices).to.have.length(5);
    expect(JSON.stringify(answer)).not.to.contain('topology').and.not.to.contain('vgpu-0');
    expect(kubelet.listCalls()).to.equal(1);
  });

  it('serves the list most recently set, and an empty node as an empty list', async () => {
    kubelet.setPodResources([]);
    expect(await listPodResources(kubelet.socketPath)).to.deep.equal([]);
    const one: PodDevices[] = [
      { namespace: 'ns', pod: 'virt-launcher-x-1', container: 'compute', resourceName: 'r/a', deviceIds: [MDEV_A] },
      { namespace: 'ns', pod: 'virt-launcher-x-1', container: 'compute', resourceName: 'r/b', deviceIds: ['7', '8'] },
      { namespace: 'ns2', pod: 'p', container: 'c', resourceName: 'r/a', deviceIds: [MDEV_B] },
    ];
    kubelet.setPodResources(podResourcesFromPodDevices(one));
    expect(await listPodResources(kubelet.socketPath)).to.deep.equal(one);
    expect(kubelet.listCalls()).to.equal(2);
  });

  it('gives up at the deadline when the kubelet does not answer, naming the socket', async () => {
    kubelet.hold();
    const err = await expectRejection(listPodResources(kubelet.socketPath, { timeoutMs: 200 }));
    expect(err.code).to.equal('deadline');
    expect(err.socketPath).to.equal(kubelet.socketPath);
    expect(err.message).to.contain(kubelet.socketPath).and.contain('200 ms');
    expect(kubelet.listCalls()).to.equal(1);
    kubelet.release();
  });

  it('refuses calls beyond the kubelet\'s rate limit (burst 10 on a clock that does not move) as rate-limited, naming the limit', async () => {
    const still = await startFakeKubelet({ podResources: PODS, clock: new FakeClock() });
    try {
      for (let i = 0; i < 10; i++) await listPodResources(still.socketPath);
      const err = await expectRejection(listPodResources(still.socketPath));
      expect(err.code).to.equal('rate-limited');
      expect(err.message).to.contain(still.socketPath).and.contain('100 calls/s');
    } finally {
      await still.close();
    }
  });

  it('answers Get for a known pod and fails it like the kubelet for an unknown one', async () => {
    const client = new grpc.Client(`unix:${kubelet.socketPath}`, grpc.credentials.createInsecure());
    const get = (podName: string) =>
      new Promise<{ err: grpc.ServiceError | null; value: Buffer | undefined }>((resolve) => {
        client.makeUnaryRequest<Buffer, Buffer>('/v1.PodResourcesLister/Get', (b) => b, (b) => b, getRequest(podName, 'tenant-a'), (err, value) =>
          resolve({ err, value }),
        );
      });
    try {
      const known = await get('virt-launcher-vm1-abcde');
      expect(known.err).to.equal(null);
      expect(known.value?.toString('latin1')).to.contain('virt-launcher-vm1-abcde').and.contain(MDEV_A);
      const unknown = await get('nope');
      expect(unknown.err?.code).to.equal(grpc.status.UNKNOWN);
      expect(unknown.err?.details).to.equal('pod nope in namespace tenant-a not found');
    } finally {
      client.close();
    }
  });
});

describe('PodResources client errors (no kubelet, or a kubelet stand-in that cannot answer)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdev-pr-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the socket and the remedy when nothing is at the path', async () => {
    const socketPath = join(dir, 'kubelet.sock');
    const err = await expectRejection(listPodResources(socketPath));
    expect(err.code).to.equal('socket-missing');
    expect(err.message).to.contain(socketPath).and.contain('hostPath').and.contain('--podresources-socket');
  });

  it('refuses a path that is not a socket', async () => {
    const file = join(dir, 'kubelet.sock');
    await writeFile(file, 'not a socket');
    const err = await expectRejection(listPodResources(file));
    expect(err.code).to.equal('not-a-socket');
    expect(err.message).to.contain(file).and.contain('/var/lib/kubelet/pod-resources/kubelet.sock');
  });

  it('reports a stale socket nobody listens on as a refused connection', async () => {
    const socketPath = await staleSocket(dir);
    const err = await expectRejection(listPodResources(socketPath, { timeoutMs: 5000 }));
    expect(err.code).to.equal('unavailable');
    expect(err.message).to.contain(socketPath).and.contain('kubelet is running');
  });

  it('reports a server without PodResources v1 as unimplemented', async () => {
    const socketPath = join(dir, 'other.sock');
    const server = new grpc.Server();
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
    try {
      const err = await expectRejection(listPodResources(socketPath, { timeoutMs: 5000 }));
      expect(err.code).to.equal('unimplemented');
      expect(err.message).to.contain(socketPath).and.contain('v1.PodResourcesLister/List');
    } finally {
      server.forceShutdown();
    }
  });

  it('rejects a timeout that is not a positive number', async () => {
    for (const timeoutMs of [0, -1, Number.NaN]) {
      let caught: unknown;
      await listPodResources(join(dir, 'x.sock'), { timeoutMs }).catch((e: unknown) => (caught = e));
      expect(caught).to.be.instanceOf(RangeError);
    }
  });
});

/** A socket file whose listener is gone: libuv unlinks the path it bound, so bind, rename, close. */
async function staleSocket(dir: string): Promise<string> {
  const bound = join(dir, 'bound.sock');
  const stale = join(dir, 'stale.sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(bound, resolve));
  await rename(bound, stale);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return stale;
}

/** GetPodResourcesRequest{pod_name=1, pod_namespace=2}, encoded by hand. */
function getRequest(podName: string, podNamespace: string): Buffer {
  const field = (tag: number, value: string) => {
    const bytes = Buffer.from(value);
    return Buffer.concat([Buffer.from([(tag << 3) | 2, bytes.length]), bytes]);
  };
  return Buffer.concat([field(1, podName), field(2, podNamespace)]);
}

/** A List answer decoded with the proto of `version`, to check the stand-in's wire shape itself. */
async function rawList(socketPath: string, version: 'v1' | 'v1alpha1'): Promise<unknown> {
  const file = podResourcesProtoPath().replace('/v1/api.proto', `/${version}/api.proto`);
  const method = (protoLoader.loadSync(file, LOADER_OPTIONS)[`${version}.PodResourcesLister`] as protoLoader.ServiceDefinition).List;
  if (!method) throw new Error(`${file} has no List`);
  const client = new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => {
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, {}, (err, value) => (err ? reject(err) : resolve(value)));
    });
  } finally {
    client.close();
  }
}
