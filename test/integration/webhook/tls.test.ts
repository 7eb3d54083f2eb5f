// Webhook TLS against the real kube-apiserver: the Secret race, caBundle publishing, and the API
// server calling our HTTPS server before and after certificate and CA rotation.
// The webhook configuration is narrowed three ways so it can never affect other tests: a
// namespaceSelector on this test's namespace, an objectSelector on a per-run label, and
// failurePolicy Ignore; it is deleted in after().
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import { splitPemCertificates } from '../../../src/webhook/tls/ca-bundle.ts';
import { kubeWebhookConfigApi } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import type { WebhookConfigRef } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import { isSignedBy } from '../../../src/webhook/tls/certs.ts';
import { reconcileWebhookTls, startTlsKeeper } from '../../../src/webhook/tls/keeper.ts';
import type { TlsKeeperHandle, WebhookTlsOptions } from '../../../src/webhook/tls/keeper.ts';
import { signingCa } from '../../../src/webhook/tls/rotation.ts';
import type { TlsMaterial, TlsPolicy } from '../../../src/webhook/tls/rotation.ts';
import { SecretConflictError, kubeTlsSecretApi } from '../../../src/webhook/tls/secret-store.ts';
import { WebhookServer, deny } from '../../../src/webhook/server.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { apiClient } from '../../support/api-client.ts';

const HOUR = 3600;
// Short lifetimes so that the rotation tests can push certificates into their renewal windows by
// changing the policy, without waiting.
const INITIAL_POLICY: TlsPolicy = { caValiditySeconds: 4 * HOUR, caRenewBeforeSeconds: 600, servingValiditySeconds: HOUR, servingRenewBeforeSeconds: 60, caPropagationSeconds: 0 };
const DENY_MESSAGE = 'denied by the mdev-operator webhook TLS test';

describe('webhook TLS on the real kube-apiserver', function () {
  this.timeout(120_000);
  // Clients are made in before(): the cluster's kubeconfig exists only once the global fixture ran.
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;
  const namespace = uniqueName('webhook-tls');
  const marker = uniqueName('deny');
  const configRef: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: uniqueName('mdev-webhook-tls-test') };
  const secretRef = { namespace, name: 'mdev-webhook-tls' };
  const identity = { service: 'mdev-webhook', namespace, ipAddresses: ['127.0.0.1'] };
  /** Fingerprint of the certificate that served each admission request, in arrival order. */
  const servedWith: string[] = [];
  let server: WebhookServer | undefined;
  let keeper: TlsKeeperHandle | undefined;
  let keeperOpts: WebhookTlsOptions;

  const replicaOptions = (): WebhookTlsOptions => ({
    secrets: kubeTlsSecretApi(testKubeConfig(), secretRef, { 'app.kubernetes.io/managed-by': 'mdev-operator-test' }),
    webhookConfigs: kubeWebhookConfigApi(testKubeConfig()),
    webhookRefs: [configRef],
    identity,
    policy: INITIAL_POLICY,
  });

  before(async () => {
    const kc = testKubeConfig();
    core = apiClient(kc, CoreV1Api);
    admission = apiClient(kc, AdmissionregistrationV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'mdev-operator.io/webhook-tls-test': marker } } } });
  });

  after(async () => {
    // The webhook configuration goes first, so nothing can call a closed server.
    await admission?.deleteValidatingWebhookConfiguration({ name: configRef.name }).catch(() => undefined);
    keeper?.stop();
    await server?.close(1_000);
    await core?.deleteNamespace({ name: namespace }).catch(() => undefined);
  });

  it('two replicas racing to create the Secret end with the same certificate', async () => {
    const [a, b] = await Promise.all([reconcileWebhookTls(replicaOptions()), reconcileWebhookTls(replicaOptions())]);
    expect(a.material).to.deep.equal(b.material);
    const secret = await core.readNamespacedSecret(secretRef);
    expect(secret.type).to.equal('kubernetes.io/tls');
    expect(Object.keys(secret.data ?? {}).sort()).to.deep.equal(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(Buffer.from(secret.data!['tls.crt']!, 'base64').toString()).to.equal(a.material.certPem);
  });

  it('rejects a renewal written against a stale resourceVersion as a conflict', async () => {
    const api = kubeTlsSecretApi(testKubeConfig(), secretRef);
    const current = (await api.read())!;
    // A changed value, so the write is not a no-op that keeps the resourceVersion.
    const written = await api.replace({ ...current.data, 'test-marker': 'first' }, current.resourceVersion);
    expect(written.resourceVersion).to.not.equal(current.resourceVersion);
    let error: unknown;
    await api.replace({ ...current.data, 'test-marker': 'second' }, current.resourceVersion).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(SecretConflictError);
  });

  it('publishes the caBundle and the API server calls the webhook over TLS; a deny reaches the client', async () => {
    keeperOpts = replicaOptions();
    const first = await reconcileWebhookTls(keeperOpts);
    server = await WebhookServer.listen({
      port: 0,
      host: '127.0.0.1',
      tls: first.material,
      handlers: { '/validate-test': (req) => deny(`${DENY_MESSAGE} (${req.name ?? 'unnamed'})`) },
    });
    server.nodeServer.on('request', (req) => {
      const cert = (req.socket as TLSSocket).getCertificate();
      // The API server appends `?timeout=5s` to the configured URL.
      if (req.url?.startsWith('/validate-test?') && cert && 'fingerprint256' in cert) servedWith.push(cert.fingerprint256);
    });
    await admission.createValidatingWebhookConfiguration({ body: webhookConfiguration(configRef.name, server.port, marker) });
    const live = server;
    keeper = startTlsKeeper(keeperOpts, { intervalMs: HOUR * 1000, onMaterial: (m) => live.updateTls(m) });
    await keeper.tick();

    expect(await publishedBundle()).to.equal(first.material.caBundlePem);
    const denial = await eventuallyDenied();
    expect(denial).to.include(DENY_MESSAGE);
    expect(servedWith.at(-1)).to.equal(fingerprint(first.material.certPem));
    // The objectSelector keeps the webhook away from everything else.
    await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: uniqueName('unlabelled') } } });
  });

  it('after a forced serving-certificate rotation the API server accepts the new certificate', async () => {
    const before = await readMaterial();
    // The current certificate (1 h) is inside a 2 h window; the next one (3 h) will not be.
    keeperOpts.policy = { ...INITIAL_POLICY, servingValiditySeconds: 3 * HOUR, servingRenewBeforeSeconds: 2 * HOUR };
    const pass = await keeper!.tick();
    keeperOpts.policy = INITIAL_POLICY;

    expect(pass.renewed).to.include('serving certificate is within its renewal window');
    const after = await readMaterial();
    expect(after.certPem).to.not.equal(before.certPem);
    expect(after.caBundlePem).to.equal(before.caBundlePem);
    expect(server!.certificateFingerprint).to.equal(fingerprint(after.certPem));
    expect(await eventuallyDenied(fingerprint(after.certPem))).to.include(DENY_MESSAGE);
  });

  it('after a forced CA rotation the bundle holds old and new CAs and admission keeps working', async () => {
    const before = await readMaterial();
    // The current CA (4 h) falls inside a 4 h + 1 min window; the new one (8 h) does not.
    keeperOpts.policy = { ...INITIAL_POLICY, caValiditySeconds: 8 * HOUR, caRenewBeforeSeconds: 4 * HOUR + 60 };
    await keeper!.tick();

    const after = await readMaterial();
    const bundle = await publishedBundle();
    expect(splitPemCertificates(bundle)).to.have.length(2);
    expect(bundle).to.equal(after.caBundlePem);
    expect(bundle).to.include(signingCa(before).certPem.trim());
    expect(isSignedBy(after.certPem, signingCa(after).certPem)).to.equal(true);
    expect(signingCa(after).certPem).to.not.equal(signingCa(before).certPem);
    expect(await eventuallyDenied(fingerprint(after.certPem))).to.include(DENY_MESSAGE);
  });

  async function readMaterial(): Promise<TlsMaterial> {
    const secret = await core.readNamespacedSecret(secretRef);
    const text = (k: string): string => Buffer.from(secret.data?.[k] ?? '', 'base64').toString();
    return { certPem: text('tls.crt'), keyPem: text('tls.key'), caBundlePem: text('ca.crt'), caKeyPem: text('ca.key') };
  }

  async function publishedBundle(): Promise<string> {
    const config = await admission.readValidatingWebhookConfiguration({ name: configRef.name });
    return Buffer.from(config.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString();
  }

  /**
   * Creates labelled ConfigMaps until one is denied (and, if given, the admission request was
   * served with `certFingerprint`). The API server picks up webhook configuration changes through
   * an informer, and with failurePolicy Ignore a call it cannot make yet simply admits.
   */
  async function eventuallyDenied(certFingerprint?: string): Promise<string> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const served = servedWith.length;
      const outcome = await createLabelled();
      const viaCert = servedWith.slice(served).includes(certFingerprint ?? '') || certFingerprint === undefined;
      if (outcome.denied && viaCert) return outcome.message;
      if (Date.now() > deadline) throw new Error(`the API server never had a ConfigMap denied through the webhook (last: ${outcome.message})`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function createLabelled(): Promise<{ denied: boolean; message: string }> {
    try {
      await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: uniqueName('cm'), labels: { 'mdev-operator.io/webhook-tls-test': marker } } } });
      return { denied: false, message: 'created (webhook not called or ignored)' };
    } catch (err) {
      const e = err as { code?: number; body?: unknown };
      const message = typeof e.body === 'string' ? e.body : JSON.stringify(e.body);
      return { denied: e.code === 403 && message.includes('denied the request'), message };
    }
  }
});

function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function webhookConfiguration(name: string, port: number, marker: string): V1ValidatingWebhookConfiguration {
  const selector = { matchLabels: { 'mdev-operator.io/webhook-tls-test': marker } };
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: 'deny.webhook-tls-test.mdev-operator.io',
        // No caBundle: publishing it is the code under test.
        clientConfig: { url: `https://127.0.0.1:${port}/validate-test` },
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'], scope: 'Namespaced' }],
        namespaceSelector: selector,
        objectSelector: selector,
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        timeoutSeconds: 5,
      },
    ],
  };
}
