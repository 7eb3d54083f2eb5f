import { expect } from 'chai';
import { keptConsumers } from '../../../src/agent/kept-consumers.ts';

const A = '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11';
const B = '91ab03cd-1b7d-4c55-9a43-2f4c1f0c9e12';
const vmA = { kind: 'VirtualMachineInstance', namespace: 'vms', name: 'vm-a', uid: 'uid-a' };
const vmB = { kind: 'VirtualMachineInstance', namespace: 'vms', name: 'vm-b', uid: 'uid-b' };
const job = { kind: 'Pod', namespace: 'batch', name: 'job-1', uid: 'uid-job' };

describe('consumers kept while PodResources cannot tell (unknown never becomes free)', () => {
  it('keeps what the API server holds when the kubelet does not answer right after a restart (no previous answer)', () => {
    const published = new Map([[A, vmA], [B, job]]);
    expect(keptConsumers({ published })).to.deep.equal(published);
  });

  it('keeps the previous answer of this process, not the published copy, while the kubelet does not answer', () => {
    const previous = new Map([[A, vmB]]);
    expect(keptConsumers({ previous, published: new Map([[A, vmA]]) })).to.deep.equal(previous);
  });

  it('publishes a fresh answer as it is: a device the kubelet no longer reports becomes free', () => {
    const out = keptConsumers({ fresh: { consumers: new Map([[B, vmB]]), unresolved: [] }, previous: new Map([[A, vmA]]), published: new Map([[A, vmA]]) });
    expect(out).to.deep.equal(new Map([[B, vmB]]));
  });

  it('keeps the consumer of a device held by a pod the cache does not know yet, previous answer first', () => {
    const fresh = { consumers: new Map([[B, vmB]]), unresolved: [{ deviceId: A }] };
    expect(keptConsumers({ fresh, previous: new Map([[A, job]]), published: new Map([[A, vmA]])}).get(A)).to.deep.equal(job);
    expect(keptConsumers({ fresh, published: new Map([[A, vmA]]) }).get(A)).to.deep.equal(vmA);
    expect(keptConsumers({ fresh, published: new Map() }).has(A), 'nothing known to keep').to.equal(false);
  });
});
