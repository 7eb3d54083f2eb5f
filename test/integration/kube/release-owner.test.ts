// The objects the operator creates at run time (agent and leader Leases, the webhook TLS Secret)
// carry an owner reference to the chart's ConfigMap, on the real API server, and the real
// kube-controller-manager's garbage collector deletes them with it: what `helm uninstall` relies on.
import { expect } from 'chai';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { LeaderElector } from '../../../src/kube/leader-election.ts';
import { LeaseHeartbeat } from '../../../src/kube/lease-heartbeat.ts';
import { apiLeaseStore, LEASES } from '../../../src/kube/lease-store.ts';
import { configMapOwner, type ReleaseOwner } from '../../../src/kube/release-owner.ts';
import { apiStatusCode } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { kubeWebhookConfigApi } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import { reconcileWebhookTls } from '../../../src/webhook/tls/keeper.ts';
import { kubeTlsSecretApi } from '../../../src/webhook/tls/secret-store.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { waitFor } from './wait.ts';

interface Meta { uid: string; resourceVersion: string; ownerReferences?: Array<Record<string, unknown>> }

const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

describe('run-time Leases and webhook TLS Secret owned by the release ConfigMap (real API server and garbage collector)', function () {
  this.timeout(90_000);
  const kc = testKubeConfig();
  let ns: string;

  const configMapPath = (name?: string) => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
  const secretPath = (name: string) => `/api/v1/namespaces/${ns}/secrets/${name}`;
  const leasePath = (name: string) => resourcePath(LEASES, { namespace: ns, name });
  const metaOf = async (path: string): Promise<Meta> => ((await kubeRequest(kc, { method: 'GET', path })) as { metadata: Meta }).metadata;
  const exists = async (path: string): Promise<boolean> => {
    try {
      await kubeRequest(kc, { method: 'GET', path });
      return true;
    } catch (err) {
      if (apiStatusCode(err) === 404) return false;
      throw err;
    }
  };

  /** A chart-like owner ConfigMap; returns its reference as the API server should store it on dependents. */
  async function createOwner(name: string): Promise<Record<string, unknown>> {
    const cm = (await kubeRequest(kc, { method: 'POST', path: configMapPath(), body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns } } })) as { metadata: Meta };
    return { apiVersion: 'v1', kind: 'ConfigMap', name, uid: cm.metadata.uid };
  }

  async function heartbeatOnce(owner: ReleaseOwner | undefined, node: string): Promise<string> {
    const leaseName = agentLeaseName(node);
    await new LeaseHeartbeat({ store: apiLeaseStore(kc, ns, owner), leaseName, holderIdentity: node, leaseDurationSeconds: 40 }).renewOnce();
    return leasePath(leaseName);
  }

  async function leadOnce(owner: ReleaseOwner | undefined, leaseName: string): Promise<string> {
    let led = false;
    const elector = new LeaderElector({ ...TIMING, store: apiLeaseStore(kc, ns, owner), leaseName, identity: 'controller-0', onStartedLeading: () => void (led = true) });
    const run = elector.run();
    await waitFor('leadership', () => led);
    await elector.stop();
    await run;
    return leasePath(leaseName);
  }

  async function tlsPass(owner: ReleaseOwner | undefined, secretName: string): Promise<string> {
    await reconcileWebhookTls({
      secrets: kubeTlsSecretApi(kc, { namespace: ns, name: secretName }, {}, owner),
      webhookConfigs: kubeWebhookConfigApi(kc),
      webhookRefs: [{ kind: 'ValidatingWebhookConfiguration', name: uniqueName('absent-config') }],
      identity: { service: 'mdev-webhook', namespace: ns },
    });
    return secretPath(secretName);
  }

  before(async () => {
    ns = uniqueName('release-owner');
    const r = await kubectl(['create', 'namespace', ns]);
    expect(r.code, r.stderr).to.equal(0);
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('writes the agent Lease, the leader Lease and the TLS Secret with an owner reference to the ConfigMap', async () => {
    const ref = await createOwner('rel-owner');
    const owner = configMapOwner(kc, ns, 'rel-owner');
    for (const path of [await heartbeatOnce(owner, uniqueName('node')), await leadOnce(owner, uniqueName('leader')), await tlsPass(owner, 'rel-webhook-tls')]) {
      expect((await metaOf(path)).ownerReferences, path).to.deep.equal([ref]);
    }
  });

  it('adopts the Leases and Secret an older release wrote without an owner: the next renewal or TLS pass adds the reference, nothing else changes', async () => {
    const ref = await createOwner('adopting-owner');
    const owner = configMapOwner(kc, ns, 'adopting-owner');
    const node = uniqueName('node');
    const leaderLease = uniqueName('leader');
    const paths = [await heartbeatOnce(undefined, node), await leadOnce(undefined, leaderLease), await tlsPass(undefined, 'old-webhook-tls')];
    for (const path of paths) expect((await metaOf(path)).ownerReferences, `${path} written unowned`).to.equal(undefined);
    const secretBefore = (await kubeRequest(kc, { method: 'GET', path: paths[2] as string })) as { data: Record<string, string> };

    await heartbeatOnce(owner, node);
    await leadOnce(owner, leaderLease);
    await tlsPass(owner, 'old-webhook-tls');
    for (const path of paths) expect((await metaOf(path)).ownerReferences, path).to.deep.equal([ref]);
    const secretAfter = (await kubeRequest(kc, { method: 'GET', path: paths[2] as string })) as { data: Record<string, string> };
    expect(secretAfter.data, 'adoption keeps the certificate').to.deep.equal(secretBefore.data);
  });

  it('keeps renewing and serving TLS when the owner cannot be read (absent): the objects are written without a reference', async () => {
    const owner = configMapOwner(kc, ns, 'no-such-owner');
    const paths = [await heartbeatOnce(owner, uniqueName('node')), await leadOnce(owner, uniqueName('leader')), await tlsPass(owner, 'unowned-webhook-tls')];
    for (const path of paths) expect((await metaOf(path)).ownerReferences, path).to.equal(undefined);
  });

  it("the garbage collector deletes the owned Leases and Secret once the ConfigMap is deleted (as helm uninstall does), and only those", async () => {
    await createOwner('doomed-owner');
    const owner = configMapOwner(kc, ns, 'doomed-owner');
    const owned = [await heartbeatOnce(owner, uniqueName('node')), await leadOnce(owner, uniqueName('leader')), await tlsPass(owner, 'doomed-webhook-tls')];
    const unowned = await heartbeatOnce(undefined, uniqueName('bystander'));
    // Helm deletes with background propagation: the owner goes at once, its dependents after.
    await kubeRequest(kc, { method: 'DELETE', path: configMapPath('doomed-owner'), body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background' } });
    for (const path of owned) await waitFor(`the garbage collector to delete ${path}`, async () => !(await exists(path)), 60_000);
    expect(await exists(unowned), 'a Lease without the reference stays').to.equal(true);
  });
});
