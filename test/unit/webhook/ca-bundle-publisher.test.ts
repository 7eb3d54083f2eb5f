import { expect } from 'chai';
import { caBundlePatch, publishCaBundle } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import type { WebhookConfigRef } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import { FakeWebhookConfigApi, key } from './fake-apis.ts';

const BUNDLE = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const B64 = Buffer.from(BUNDLE).toString('base64');
const validating: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: 'mdev-validating' };
const mutating: WebhookConfigRef = { kind: 'MutatingWebhookConfiguration', name: 'mdev-mutating' };

describe('webhook caBundle publishing (in-memory API stand-in)', () => {
  it('patches only the webhooks whose caBundle differs, guarding each by name', () => {
    const ops = caBundlePatch([{ name: 'a.mdev', caBundle: B64 }, { name: 'b.mdev' }, { name: 'c.mdev', caBundle: 'b2xk' }], BUNDLE);
    expect(ops).to.deep.equal([
      { op: 'test', path: '/webhooks/1/name', value: 'b.mdev' },
      { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: B64 },
      { op: 'test', path: '/webhooks/2/name', value: 'c.mdev' },
      { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: B64 },
    ]);
    expect(caBundlePatch([{ name: 'a', caBundle: B64 }], BUNDLE)).to.deep.equal([]);
  });

  it('sets the bundle on every webhook of every named configuration, then does nothing', async () => {
    const api = new FakeWebhookConfigApi();
    api.configs.set(key(validating), [{ name: 'v1.mdev' }, { name: 'v2.mdev', caBundle: 'b2xk' }]);
    api.configs.set(key(mutating), [{ name: 'm1.mdev' }]);
    const first = await publishCaBundle(api, [validating, mutating], BUNDLE);
    expect(first.patched).to.deep.equal([validating, mutating]);
    expect(api.caBundles(validating)).to.deep.equal([B64, B64]);
    expect(api.caBundles(mutating)).to.deep.equal([B64]);
    const second = await publishCaBundle(api, [validating, mutating], BUNDLE);
    expect(second.patched).to.deep.equal([]);
    expect(api.patches).to.have.length(2);
  });

  it('reports a missing configuration instead of failing', async () => {
    const api = new FakeWebhookConfigApi();
    const result = await publishCaBundle(api, [validating], BUNDLE);
    expect(result.missing).to.deep.equal([validating]);
  });

  it('re-reads and retries after a failed patch', async () => {
    const api = new FakeWebhookConfigApi();
    api.configs.set(key(validating), [{ name: 'v1.mdev' }]);
    api.failPatches = 2;
    await publishCaBundle(api, [validating], BUNDLE);
    expect(api.caBundles(validating)).to.deep.equal([B64]);
  });

  it('gives up after three failures with an error naming the configuration and the RBAC remedy', async () => {
    const api = new FakeWebhookConfigApi();
    api.configs.set(key(validating), [{ name: 'v1.mdev' }]);
    api.failPatches = 3;
    let error: unknown;
    await publishCaBundle(api, [validating], BUNDLE).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.match(/ValidatingWebhookConfiguration mdev-validating.*get\/patch on validatingwebhookconfigurations/);
  });
});
