import { expect } from 'chai';
import { freshMaterial } from '../../../src/webhook/tls/rotation.ts';
import type { TlsMaterial } from '../../../src/webhook/tls/rotation.ts';
import { TLS_SECRET_KEYS, createTlsIfAbsent, materialFromSecretData, materialToSecretData, replaceTlsOrAdopt } from '../../../src/webhook/tls/secret-store.ts';
import { FakeSecretApi } from './fake-apis.ts';
import { applyAt } from './tls-fixtures.ts';

describe('webhook TLS Secret store (in-memory API stand-in)', () => {
  let a: TlsMaterial;
  let b: TlsMaterial;

  before(async () => {
    [a, b] = await Promise.all([freshMaterial(applyAt(0)), freshMaterial(applyAt(0))]);
  });

  it('maps material to kubernetes.io/tls keys plus ca.crt and ca.key, and back', () => {
    const data = materialToSecretData(a);
    expect(Object.keys(data).sort()).to.deep.equal(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(data[TLS_SECRET_KEYS.cert]).to.equal(a.certPem);
    expect(materialFromSecretData(data)).to.deep.equal(a);
    expect(materialFromSecretData({}).certPem).to.equal('');
  });

  it('creates the Secret when absent and does not generate when present', async () => {
    const api = new FakeSecretApi();
    let generated = 0;
    const gen = async (): Promise<TlsMaterial> => (generated++, a);
    expect((await createTlsIfAbsent(api, gen)).material).to.deep.equal(a);
    expect((await createTlsIfAbsent(api, gen)).material).to.deep.equal(a);
    expect(generated).to.equal(1);
    expect(api.creates).to.equal(1);
  });

  it('makes racing replicas adopt the first writer after a conflict', async () => {
    const api = new FakeSecretApi();
    api.holdReads(2);
    const [first, second] = await Promise.all([createTlsIfAbsent(api, async () => a), createTlsIfAbsent(api, async () => b)]);
    expect(api.creates).to.equal(1);
    expect(second.material).to.deep.equal(first.material);
    expect(second.resourceVersion).to.equal(first.resourceVersion);
  });

  it('replaces with the read resourceVersion', async () => {
    const api = new FakeSecretApi();
    const stored = await createTlsIfAbsent(api, async () => a);
    const result = await replaceTlsOrAdopt(api, b, stored.resourceVersion);
    expect(result.adopted).to.equal(false);
    expect(result.stored.material).to.deep.equal(b);
    expect(result.stored.resourceVersion).to.not.equal(stored.resourceVersion);
  });

  it('adopts the other writer when its resourceVersion is stale', async () => {
    const api = new FakeSecretApi();
    const stale = await createTlsIfAbsent(api, async () => a);
    await replaceTlsOrAdopt(api, b, stale.resourceVersion); // another replica rotated first
    const result = await replaceTlsOrAdopt(api, a, stale.resourceVersion);
    expect(result.adopted).to.equal(true);
    expect(result.stored.material).to.deep.equal(b);
    expect(api.replaces).to.equal(1);
  });

  it('recreates the Secret if it was deleted between read and replace', async () => {
    const api = new FakeSecretApi();
    const stored = await createTlsIfAbsent(api, async () => a);
    api.stored = undefined;
    const result = await replaceTlsOrAdopt(api, b, stored.resourceVersion);
    expect(result.stored.material).to.deep.equal(b);
    expect(api.stored).to.not.equal(undefined);
  });

  it('propagates errors other than conflicts', async () => {
    const api = new FakeSecretApi();
    api.create = () => Promise.reject(new Error('forbidden'));
    let error: unknown;
    await createTlsIfAbsent(api, async () => a).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.equal('forbidden');
  });
});
