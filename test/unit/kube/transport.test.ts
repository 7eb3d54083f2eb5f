// Requests share one keep-alive connection pool per KubeConfig and TLS material: freshly decoded
// Buffers with the same bytes share it, different material never does, and the generated clients
// and raw requests both use it.
import { expect } from 'chai';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../../src/kube/request.ts';
import { interceptRequests, POOL_OPTIONS, pooledDispatcher, sameOption, sameOptions } from '../../../src/kube/transport.ts';
import { apiClient } from '../../support/api-client.ts';
import { watchStream } from '../../../src/kube/watch-stream.ts';
import { loopbackApi, type LoopbackApi } from './loopback-api.ts';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { freshMaterial } from '../../../src/webhook/tls/rotation.ts';
import { applyAt } from '../webhook/tls-fixtures.ts';

function httpsConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('kube transport: the connection pool (no server)', () => {
  it('compares TLS options by content, Buffers included', () => {
    const a = { ca: Buffer.from('ca-bytes'), cert: Buffer.from('cert'), key: undefined, rejectUnauthorized: true };
    expect(sameOptions(a, { ca: Buffer.from('ca-bytes'), cert: Buffer.from('cert'), key: undefined, rejectUnauthorized: true })).to.equal(true);
    expect(sameOptions(a, { ...a, ca: Buffer.from('other-ca') })).to.equal(false);
    expect(sameOptions(a, { ...a, rejectUnauthorized: false })).to.equal(false);
    expect(sameOptions(a, { ca: a.ca, cert: a.cert, rejectUnauthorized: true }), 'a missing key differs').to.equal(false);
    expect(sameOption([Buffer.from('x')], [Buffer.from('x')])).to.equal(true);
    expect(sameOption(Buffer.from('x'), 'x')).to.equal(false);
  });

  it('hands out one dispatcher per KubeConfig and TLS material', () => {
    const kc = httpsConfig();
    const first = pooledDispatcher(kc, { ca: Buffer.from('ca') });
    expect(first, 'TLS material makes an Agent').to.be.an('object');
    expect(pooledDispatcher(kc, { ca: Buffer.from('ca') })).to.equal(first);
    expect(pooledDispatcher(kc, { ca: Buffer.from('other') })).to.not.equal(first);
    const other = new KubeConfig();
    other.loadFromString(kc.exportConfig());
    expect(pooledDispatcher(other, { ca: Buffer.from('ca') })).to.not.equal(first);
  });

  it('refuses a SOCKS proxy by name and pools options without TLS material too', () => {
    const socks = httpsConfig();
    socks.clusters[0] = { ...socks.clusters[0]!, proxyUrl: 'socks5://127.0.0.1:1080' };
    expect(() => pooledDispatcher(socks, { ca: Buffer.from('ca') })).to.throw(/cluster c uses the SOCKS proxy socks5:\/\/127.0.0.1:1080.*use an HTTP\(S\) proxy-url/);
    const kc = httpsConfig();
    const plain = pooledDispatcher(kc, {});
    expect(plain, 'our HTTP/1.1 Agent, not undici\'s global dispatcher').to.be.an('object');
    expect(pooledDispatcher(kc, {})).to.equal(plain);
  });
});

describe('kube transport: requests on the wire (loopback server)', () => {
  let api: LoopbackApi;
  beforeEach(async () => {
    api = await loopbackApi((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'default' } }));
    });
  });
  afterEach(() => api.close());

  // undici may open a second connection while the first is still settling after its response; a
  // pool keeps reusing those, while client-node's per-request Agents would open one per request.
  it('reuses connections across consecutive raw requests, authenticated', async () => {
    for (let i = 0; i < 10; i++) await kubeRequest(api.kc, { method: 'GET', path: '/api/v1/namespaces/default' });
    expect(api.requests.map((r) => r.authorization)).to.deep.equal(Array(10).fill('Bearer loopback-token'));
    expect(api.connections(), 'connections for 10 requests').to.be.at.most(5);
  });

  // undici closes the connection after a DELETE that carries a body unless the request says
  // `reset: false`: each finished migration the history limit deleted cost a new TLS handshake.
  it('keeps the connection after a DELETE carrying DeleteOptions (preconditions) in its body', async () => {
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: 'u1', resourceVersion: '7' } };
    for (let i = 0; i < 10; i++) await kubeRequest(api.kc, { method: 'DELETE', path: `/apis/mdev-operator.io/v1alpha1/namespaces/ns/mdevmigrations/m${i}`, body });
    expect(api.requests.map((r) => r.method)).to.deep.equal(Array(10).fill('DELETE'));
    expect(api.connections(), 'connections for 10 deletes with a body').to.be.at.most(2);
  });

  it('sends a generated client\'s requests through the same pool', async () => {
    for (let i = 0; i < 5; i++) await kubeRequest(api.kc, { method: 'GET', path: '/api/v1/namespaces/default' });
    const core = apiClient(api.kc, CoreV1Api);
    for (let i = 0; i < 5; i++) expect((await core.readNamespace({ name: 'default' })).metadata?.name).to.equal('default');
    expect(api.requests.at(-1)).to.include({ url: '/api/v1/namespaces/default', authorization: 'Bearer loopback-token' });
    expect(api.connections(), 'connections for 10 requests').to.be.at.most(5);
  });

  it('runs an interceptor on every request of its KubeConfig: raw, generated and watch', async () => {
    const seen: string[] = [];
    interceptRequests(api.kc, (dispatch) => (opts, handler) => {
      seen.push(`${opts.method} ${opts.path}`);
      return dispatch(opts, handler);
    });
    await kubeRequest(api.kc, { method: 'GET', path: '/api/v1/namespaces/default' });
    await apiClient(api.kc, CoreV1Api).readNamespace({ name: 'kube-system' });
    let done!: () => void;
    const closed = new Promise<void>((r) => (done = r));
    await watchStream(api.kc, { path: '/api/v1/nodes', query: {}, inactivityTimeoutMs: 60_000 }, () => undefined, () => done());
    await closed;
    expect(seen).to.deep.equal(['GET /api/v1/namespaces/default', 'GET /api/v1/namespaces/kube-system', 'GET /api/v1/nodes?watch=true']);
  });
});

describe('kube transport: idle connections', () => {
  // undici closes an idle connection after 4 s by default, so a decision a few seconds after the
  // last one paid a new TLS handshake per parallel request; kube-apiserver closes idle connections
  // after 90 s and sends no Keep-Alive hint, so the client's own timeout decides. undici runs that
  // timer on its own module-level clock, which no fake clock drives, so the option is checked here
  // rather than by waiting out real seconds.
  it('keeps idle connections longer than undici\'s 4 s and shorter than the API server\'s 90 s', () => {
    expect(POOL_OPTIONS.allowH2).to.equal(false);
    expect(POOL_OPTIONS.keepAliveTimeout).to.be.greaterThan(4_000).and.lessThan(90_000);
  });
});

describe('kube transport: HTTP/1.1 only, also where the server offers HTTP/2 (loopback TLS server)', () => {
  // undici 8 would negotiate HTTP/2, whose client can crash the process when the server closes the
  // connection (ADR 0007); raw requests, generated clients and watches must all arrive as HTTP/1.1.
  it('every request arrives as HTTP/1.1 at a server that prefers h2', async () => {
    const material = await freshMaterial({ ...applyAt(0), now: new Date() });
    const versions: string[] = [];
    const server = createSecureServer({ cert: material.certPem, key: material.keyPem, allowHTTP1: true }, (req, res) => {
      versions.push(req.httpVersion);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url?.includes('watch=true') ? '' : JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'default' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'tls', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caData: Buffer.from(material.caBundlePem).toString('base64') }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'tls', cluster: 'tls', user: 'u' }],
        currentContext: 'tls',
      });
      await kubeRequest(kc, { method: 'GET', path: '/api/v1/namespaces/default' });
      await apiClient(kc, CoreV1Api).readNamespace({ name: 'default' });
      let closed!: () => void;
      const done = new Promise<void>((r) => (closed = r));
      await watchStream(kc, { path: '/api/v1/nodes', query: {}, inactivityTimeoutMs: 60_000 }, () => undefined, () => closed());
      await done;
      expect(versions).to.deep.equal(['1.1', '1.1', '1.1']);
    } finally {
      server.close();
    }
  });
});
