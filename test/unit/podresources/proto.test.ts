import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { METHOD_PATHS, podResourcesMethod, podResourcesProtoPath } from '../../../src/agent/podresources/proto.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PROTO_MODULE = new URL('../../../src/agent/podresources/proto.ts', import.meta.url).href;

// Protobuf wire encoding of a length-delimited field, written by hand so the field numbers here
// are the kubelet's (k8s.io/kubelet/pkg/apis/podresources/v1), not whatever our .proto says.
function field(tag: number, value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([Buffer.from([(tag << 3) | 2, bytes.length]), bytes]);
}

describe('kubelet PodResources v1 proto', () => {
  it('decodes bytes laid out with the upstream field numbers', () => {
    const devices = Buffer.concat([field(1, 'nvidia.com/T4'), field(2, 'uuid-1'), field(2, 'uuid-2')]); // ContainerDevices
    const container = Buffer.concat([field(1, 'compute'), field(2, devices)]); // ContainerResources
    const pod = Buffer.concat([field(1, 'virt-launcher-vm-x'), field(2, 'ns'), field(3, container)]); // PodResources
    const response = field(1, pod); // ListPodResourcesResponse.pod_resources
    const decoded = podResourcesMethod(METHOD_PATHS.list).responseDeserialize(response);
    expect(decoded).to.deep.include({
      podResources: [
        {
          name: 'virt-launcher-vm-x',
          namespace: 'ns',
          containers: [
            {
              name: 'compute',
              devices: [{ resourceName: 'nvidia.com/T4', deviceIds: ['uuid-1', 'uuid-2'], topology: null }],
              cpuIds: [],
              memory: [],
              dynamicResources: [],
            },
          ],
        },
      ],
    });
  });

  it('routes List, GetAllocatableResources and Get under v1.PodResourcesLister', () => {
    expect(podResourcesMethod(METHOD_PATHS.list).path).to.equal('/v1.PodResourcesLister/List');
    expect(podResourcesMethod(METHOD_PATHS.getAllocatable).path).to.equal('/v1.PodResourcesLister/GetAllocatableResources');
    expect(podResourcesMethod(METHOD_PATHS.get).path).to.equal('/v1.PodResourcesLister/Get');
  });

  it('finds api.proto from the module location both in src/ and in compiled dist/', () => {
    const expected = `${REPO_ROOT}proto/podresources/v1/api.proto`;
    expect(podResourcesProtoPath()).to.equal(expected);
    expect(podResourcesProtoPath(pathToFileURL(`${REPO_ROOT}dist/agent/podresources/proto.js`).href)).to.equal(expected);
  });

  it('loads the service when the process cwd is not the repository root', async () => {
    const script = `const m = await import(${JSON.stringify(PROTO_MODULE)}); console.log(Object.keys(m.podResourcesService()).join(','));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: tmpdir() });
    expect(stdout.trim()).to.equal('List,GetAllocatableResources,Get');
  });
});
