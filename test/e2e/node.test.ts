// The real node of the local cluster: Ready, shown by cluster:status, alone on the machine, and
// network-safe — a pod's packets reach the host and other pods, never the outside.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { ClusterError, clusterPaths, down, startNodeKubeProxy, status, stopNodeKubeProxy, up } from '../../dev/localcluster/index.ts';
import { NODE_NAME } from '../../dev/localcluster/node/layout.ts';
import { kubectl, uniqueName } from '../support/cluster.ts';
import { poll } from '../support/poll.ts';
import { E2E_CLUSTER } from './support/fixture.ts';

/** Runs `script` with node in a pod of the product image on the real node; returns what it printed. */
async function inPod(script: string): Promise<string> {
  const name = uniqueName('net');
  const pod = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' },
    spec: {
      restartPolicy: 'Never', nodeName: NODE_NAME,
      containers: [{ name: 'probe', image: 'localhost/mdev-operator:dev', imagePullPolicy: 'Never', command: ['node', '-e', script] }],
    },
  };
  const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(pod) });
  expect(r.code, r.stderr).to.equal(0);
  await poll(`pod ${name} to finish`, async () => {
    const phase = (await kubectl(['-n', 'default', 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).stdout;
    return phase === 'Succeeded' || phase === 'Failed' ? phase : undefined;
  }, 120_000, 500);
  const logs = await kubectl(['-n', 'default', 'logs', name]);
  await kubectl(['-n', 'default', 'delete', 'pod', name, '--wait=false']);
  return logs.stdout.trim();
}

/** A TCP connect from inside the pod: CONNECTED, or the error code. */
const connectScript = (host: string, port: number) =>
  `const s=require('net').connect(${port},'${host}');s.setTimeout(20000);` +
  `s.on('connect',()=>{console.log('CONNECTED');s.destroy()});s.on('timeout',()=>{console.log('TIMEOUT');s.destroy()});s.on('error',(e)=>console.log(e.code))`;

describe('the real node (cluster:up --nodes 1)', function () {
  this.timeout(240_000);

  it('is Ready, and cluster:status shows it with its PodResources socket', async () => {
    const s = await status({ name: E2E_CLUSTER });
    expect(s.node?.name).to.equal(NODE_NAME);
    expect(s.node?.ready).to.equal(true);
    expect(existsSync(s.node!.podResourcesSocket), s.node!.podResourcesSocket).to.equal(true);
    expect(s.components.filter((c) => !c.alive).map((c) => c.name)).to.deep.equal([]);
  });

  it('a second cluster asking for a real node is refused, naming the running one, and starts nothing', async () => {
    const second = `e2e-second-${process.pid}`;
    const err = await up({ name: second, nodes: 1, log: () => undefined }).then(() => undefined, (e: unknown) => e);
    try {
      expect(err).to.be.instanceOf(ClusterError);
      expect((err as Error).message).to.include('a real node already runs on this machine').and.include(clusterPaths(E2E_CLUSTER).root);
      expect(existsSync(clusterPaths(second).state), 'no state: nothing of the second cluster runs').to.equal(false);
      expect((await status({ name: E2E_CLUSTER })).node?.ready, 'the first node is untouched').to.equal(true);
    } finally {
      await down({ name: second, purge: true });
    }
  });

  it('a pod reaches the API server through the kubernetes Service', async () => {
    expect(await inPod(connectScript('10.0.0.1', 443))).to.equal('CONNECTED');
  });

  it('with kube-proxy stopped, a pod\'s request to a ClusterIP fails on the machine instead of leaving it', async () => {
    await stopNodeKubeProxy({ name: E2E_CLUSTER });
    try {
      // No DNAT for 10.0.0.1 now: the Service CIDR is routed onto the uplink-less pod bridge,
      // where nobody answers ARP for it, so the connect fails with "no route to host".
      expect(await inPod(connectScript('10.0.0.1', 443))).to.be.oneOf(['EHOSTUNREACH', 'ECONNREFUSED']);
    } finally {
      await startNodeKubeProxy({ name: E2E_CLUSTER });
    }
    expect(await inPod(connectScript('10.0.0.1', 443)), 'kube-proxy programs the Service again').to.equal('CONNECTED');
  });

  it('a pod\'s packet to an address outside the machine is refused by the node\'s guard, not forwarded', async () => {
    // 203.0.113.0/24 is TEST-NET-3 (documentation only): nothing answers there even if it left.
    expect(await inPod(connectScript('203.0.113.7', 80))).to.be.oneOf(['EHOSTUNREACH', 'ECONNREFUSED', 'ENETUNREACH']);
  });
});
