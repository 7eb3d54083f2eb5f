import { expect } from 'chai';
import { splitPemCertificates } from '../../../src/webhook/tls/ca-bundle.ts';
import type { WebhookConfigRef } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import { isSignedBy } from '../../../src/webhook/tls/certs.ts';
import { reconcileWebhookTls, startTlsKeeper } from '../../../src/webhook/tls/keeper.ts';
import type { WebhookTlsOptions } from '../../../src/webhook/tls/keeper.ts';
import { signingCa } from '../../../src/webhook/tls/rotation.ts';
import type { TlsMaterial } from '../../../src/webhook/tls/rotation.ts';
import { FakeSecretApi, FakeWebhookConfigApi, key } from './fake-apis.ts';
import { IDENTITY, SHORT_POLICY, at } from './tls-fixtures.ts';

const ref: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: 'mdev-validating' };
const b64 = (pem: string): string => Buffer.from(pem).toString('base64');

function setup(): { secrets: FakeSecretApi; configs: FakeWebhookConfigApi; opts: (seconds: number) => WebhookTlsOptions } {
  const secrets = new FakeSecretApi();
  const configs = new FakeWebhookConfigApi();
  configs.configs.set(key(ref), [{ name: 'vmim.mdev-operator.io' }]);
  const opts = (seconds: number): WebhookTlsOptions => ({
    secrets,
    webhookConfigs: configs,
    webhookRefs: [ref],
    identity: IDENTITY,
    policy: SHORT_POLICY,
    clock: () => at(seconds),
  });
  return { secrets, configs, opts };
}

describe('webhook TLS keeper (in-memory API stand-ins)', () => {
  it('makes two racing replicas end with one Secret and the same certificate, and publishes its CA', async () => {
    const { secrets, configs, opts } = setup();
    secrets.holdReads(2);
    const [r1, r2] = await Promise.all([reconcileWebhookTls(opts(0)), reconcileWebhookTls(opts(0))]);
    expect(secrets.creates).to.equal(1);
    expect(r1.material).to.deep.equal(r2.material);
    expect(configs.caBundles(ref)).to.deep.equal([b64(r1.material.caBundlePem)]);
  });

  it('renews the serving certificate in its window without touching the CA bundle', async () => {
    const { configs, opts } = setup();
    const first = await reconcileWebhookTls(opts(0));
    expect((await reconcileWebhookTls(opts(700))).renewed).to.deep.equal([]);
    const renewed = await reconcileWebhookTls(opts(701));
    expect(renewed.renewed).to.deep.equal(['serving certificate is within its renewal window']);
    expect(renewed.material.certPem).to.not.equal(first.material.certPem);
    expect(renewed.material.caBundlePem).to.equal(first.material.caBundlePem);
    expect(configs.patches).to.have.length(1);
  });

  it('rotates the CA in two passes: publish old+new first, switch the serving certificate later', async () => {
    const { configs, opts } = setup();
    const start = await reconcileWebhookTls(opts(0));
    // Keep the serving certificate current up to the CA's window, as the periodic pass would.
    for (const t of [701, 1402, 2103, 2804, 3505, 4206, 4907, 5608, 6309]) await reconcileWebhookTls(opts(t));
    const step1 = await reconcileWebhookTls(opts(7001));
    expect(splitPemCertificates(step1.material.caBundlePem)).to.have.length(2);
    expect(configs.caBundles(ref)).to.deep.equal([b64(step1.material.caBundlePem)]);
    expect(isSignedBy(step1.material.certPem, signingCa(start.material).certPem)).to.equal(true);

    const step2 = await reconcileWebhookTls(opts(7061));
    expect(isSignedBy(step2.material.certPem, signingCa(step1.material).certPem)).to.equal(true);
    expect(step2.material.caBundlePem).to.equal(step1.material.caBundlePem);
  });

  it('keeps serving but holds the CA switch while the bundle cannot be published', async () => {
    const { configs, opts } = setup();
    await reconcileWebhookTls(opts(0));
    for (const t of [701, 1402, 2103, 2804, 3505, 4206, 4907, 5608, 6309]) await reconcileWebhookTls(opts(t));
    configs.failPatches = 1_000;
    const step1 = await reconcileWebhookTls(opts(7001));
    expect(step1.publishError?.message).to.match(/could not patch caBundle/);
    const held = await reconcileWebhookTls(opts(7100));
    expect(held.material.certPem).to.equal(step1.material.certPem);
    expect(isSignedBy(held.material.certPem, signingCa(held.material).certPem)).to.equal(false);
    configs.failPatches = 0;
    const resumed = await reconcileWebhookTls(opts(7101));
    expect(resumed.publishError).to.equal(undefined);
    expect(isSignedBy(resumed.material.certPem, signingCa(resumed.material).certPem)).to.equal(true);
  });

  it('delivers the material of each pass to the listener; concurrent ticks share one pass', async () => {
    const { opts } = setup();
    const seen: TlsMaterial[] = [];
    const keeper = startTlsKeeper(opts(0), { intervalMs: 3_600_000, onMaterial: (m) => seen.push(m) });
    try {
      const [p1, p2] = await Promise.all([keeper.tick(), keeper.tick()]);
      expect(p1).to.equal(p2);
      expect(seen.at(-1)).to.deep.equal(p1.material);
    } finally {
      keeper.stop();
    }
  });
});
