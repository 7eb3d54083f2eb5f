// Each component names itself to the API server: a KubeConfig view from withUserAgent sends its
// User-Agent on raw requests and watches (and on the tests' generated clients), shares the
// original's connections, and leaves the original as it was. A plain HTTP server on loopback
// records what arrives.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../../src/kube/request.ts';
import { pooledDispatcher } from '../../../src/kube/transport.ts';
import { watchStream } from '../../../src/kube/watch-stream.ts';
import { apiClient } from '../../support/api-client.ts';
import { USER_AGENTS, withUserAgent } from '../../../src/kube/user-agent.ts';

describe('per-component User-Agent (loopback HTTP server)', () => {
  let server: Server;
  const seen: IncomingHttpHeaders[] = [];
  let kc: KubeConfig;

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.headers);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  it('sends the component name on raw requests, keeps the credentials, and leaves the original alone', async () => {
    const controller = withUserAgent(kc, USER_AGENTS.controller);
    seen.length = 0;
    await kubeRequest(controller, { method: 'GET', path: '/api/v1/namespaces/default' });
    await kubeRequest(kc, { method: 'GET', path: '/api/v1/namespaces/default' });
    expect(seen[0]?.['user-agent']).to.equal('mdev-operator-controller/0.1.0');
    expect(seen[0]?.authorization).to.equal('Bearer secret-token');
    expect(seen[1]?.['user-agent']).to.not.match(/mdev-operator/);
  });

  it('sends it on watches too', async () => {
    const agent = withUserAgent(kc, USER_AGENTS.agent);
    seen.length = 0;
    let done!: () => void;
    const closed = new Promise<void>((r) => (done = r));
    await watchStream(agent, { path: '/api/v1/nodes', query: {}, inactivityTimeoutMs: 60_000 }, () => undefined, () => done());
    await closed;
    expect(seen[0]?.['user-agent']).to.equal('mdev-operator-agent/0.1.0');
    expect(seen[0]?.authorization).to.equal('Bearer secret-token');
  });

  it('shares the original KubeConfig’s keep-alive pool', () => {
    const copy = withUserAgent(kc, USER_AGENTS.cli);
    expect(pooledDispatcher(copy, { ca: Buffer.from('ca') })).to.equal(pooledDispatcher(kc, { ca: Buffer.from('ca') }));
    expect(pooledDispatcher(withUserAgent(copy, USER_AGENTS.agent), { ca: Buffer.from('ca') }), 'a copy of a copy too').to.equal(pooledDispatcher(kc, { ca: Buffer.from('ca') }));
  });

  it('sends it from the tests\' generated clients (test/support/api-client.ts) too', async () => {
    const controller = withUserAgent(kc, USER_AGENTS.controller);
    seen.length = 0;
    await apiClient(controller, CoreV1Api).readNamespace({ name: 'default' });
    expect(seen[0]?.['user-agent']).to.equal('mdev-operator-controller/0.1.0');
  });
});
