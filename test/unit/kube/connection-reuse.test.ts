// The keep-alive pool matches client-node's per-request agent options by content: freshly decoded
// Buffers with the same bytes share a connection pool; different TLS material never does.
import { expect } from 'chai';
import { KubeConfig } from '@kubernetes/client-node';
import { sameOption, sameOptions } from '../../../src/kube/connection-reuse.ts';

describe('connection reuse (no server)', () => {
  it('compares agent options by content, Buffers included', () => {
    const a = { ca: Buffer.from('ca-bytes'), cert: Buffer.from('cert'), key: undefined, rejectUnauthorized: true };
    expect(sameOptions(a, { ca: Buffer.from('ca-bytes'), cert: Buffer.from('cert'), key: undefined, rejectUnauthorized: true })).to.equal(true);
    expect(sameOptions(a, { ...a, ca: Buffer.from('other-ca') })).to.equal(false);
    expect(sameOptions(a, { ...a, rejectUnauthorized: false })).to.equal(false);
    expect(sameOptions(a, { ca: a.ca, cert: a.cert, rejectUnauthorized: true }), 'a missing key differs').to.equal(false);
    expect(sameOption([Buffer.from('x')], [Buffer.from('x')])).to.equal(true);
    expect(sameOption(Buffer.from('x'), 'x')).to.equal(false);
  });

  it('hands out one dispatcher per KubeConfig and TLS material', () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const create = (kc as unknown as { createDispatcher(c: unknown, o: Record<string, unknown>): unknown }).createDispatcher.bind(kc);
    const cluster = kc.getCurrentCluster();
    const first = create(cluster, { ca: Buffer.from('ca'), cert: undefined });
    expect(create(cluster, { ca: Buffer.from('ca'), cert: undefined })).to.equal(first);
    expect(create(cluster, { ca: Buffer.from('other'), cert: undefined })).to.not.equal(first);
    const other = new KubeConfig();
    other.loadFromString(kc.exportConfig());
    const createOther = (other as unknown as { createDispatcher(c: unknown, o: Record<string, unknown>): unknown }).createDispatcher.bind(other);
    expect(createOther(other.getCurrentCluster(), { ca: Buffer.from('ca'), cert: undefined })).to.not.equal(first);
  });
});
