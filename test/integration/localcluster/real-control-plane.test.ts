// Proof that the local control plane is a real Kubernetes (issue #2's checklist, in one file):
// kubectl and client-node against the upstream kube-apiserver on etcd, RBAC and ServiceAccount
// tokens enforced by the API server itself, and kube-controller-manager's garbage collector,
// namespace, serviceaccount and root-CA controllers doing their work. No kubelet runs: the Pod a
// token is bound to is a plain object with spec.nodeName set by hand (it never starts).
import { expect } from 'chai';
import {
  ApiException, AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, RbacAuthorizationV1Api, Watch,
} from '@kubernetes/client-node';
import { VERSIONS } from '../../../dev/localcluster/index.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { waitFor } from '../kube/wait.ts';

const admin = testKubeConfig();
const core = admin.makeApiClient(CoreV1Api);
const custom = admin.makeApiClient(CustomObjectsApi);

/** The HTTP status of a failed client-node call (the test fails if the call succeeded). */
async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ApiException) return err.code;
    throw err;
  }
  throw new Error('expected the API server to refuse the request, but it succeeded');
}

async function gone(read: () => Promise<unknown>): Promise<boolean> {
  try {
    await read();
    return false;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return true;
    throw err;
  }
}

/** A KubeConfig that authenticates with nothing but `token` (no client certificate). */
function tokenKubeConfig(token: string): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the test kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster], users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }], currentContext: 'sa',
  });
  return kc;
}

/**
 * Opens a watch, retrying while the API server answers 429: a just-Established CRD's watch cache
 * may still be initialising, and real clients (client-go's reflector) retry exactly so.
 */
async function openWatch(path: string, onEvent: (type: string, obj: { metadata?: { name?: string } }) => void): Promise<AbortController> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let refusal: { statusCode?: number } | undefined;
    let opened = false;
    const watch = await new Watch(admin).watch(path, {}, onEvent, (err: { statusCode?: number } | null) => {
      if (!opened) refusal = err ?? undefined;
    });
    opened = true;
    if (refusal?.statusCode !== 429) {
      if (refusal) throw new Error(`watching ${path} failed: ${String(refusal)}`);
      return watch;
    }
    if (Date.now() > deadline) throw new Error(`watching ${path} still answered 429 after 30s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('local control plane: proof that it is real', function () {
  this.timeout(120_000);
  const group = `${uniqueName('proof')}.mdev.example.com`;
  const plural = 'widgets';
  const crdName = `${plural}.${group}`;
  const ns = uniqueName('proof');
  const namespaces = [ns];

  before(async () => {
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async () => {
    // Bound Pods have a nodeName and no kubelet to confirm a graceful delete: force them first.
    await core.deleteCollectionNamespacedPod({ namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
    for (const n of namespaces) await core.deleteNamespace({ name: n }).catch(() => undefined);
    await kubectl(['delete', 'crd', crdName, '--ignore-not-found', '--wait=false']);
  });

  it('kubectl version reports the real server version, not v0.0.0-master', async () => {
    const r = await kubectl(['version', '-o', 'json']);
    expect(r.code, r.stderr).to.equal(0);
    const server = (JSON.parse(r.stdout) as { serverVersion: { gitVersion: string; major: string; minor: string } }).serverVersion;
    expect(server.gitVersion).to.equal(`v${VERSIONS.kubernetes}`);
    expect(server.major).to.equal('1');
    expect(server.minor).to.equal(VERSIONS.kubernetes.split('.')[1]);
  });

  it('a CRD applied with kubectl becomes Established', async () => {
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: crdName },
      spec: {
        group, scope: 'Namespaced', names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{
          name: 'v1', served: true, storage: true,
          schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } },
        }],
      },
    };
    const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) });
    expect(applied.code, applied.stderr).to.equal(0);
    const waited = await kubectl(['wait', '--for=condition=Established', `crd/${crdName}`, '--timeout=60s']);
    expect(waited.code, waited.stderr).to.equal(0);
    const established = await kubectl(['get', 'crd', crdName, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
    expect(established.stdout).to.equal('True');
  });

  it('custom objects are created, listed and watched through client-node', async () => {
    const seen: string[] = [];
    const watch = await openWatch(`/apis/${group}/v1/namespaces/${ns}/${plural}`, (type, obj) => seen.push(`${type} ${obj.metadata?.name}`));
    try {
      for (const name of ['w1', 'w2']) {
        await custom.createNamespacedCustomObject({
          group, version: 'v1', namespace: ns, plural,
          body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec: { size: 1 } },
        });
      }
      const list = (await custom.listNamespacedCustomObject({ group, version: 'v1', namespace: ns, plural })) as { items: { metadata: { name: string } }[] };
      expect(list.items.map((i) => i.metadata.name).sort()).to.deep.equal(['w1', 'w2']);
      await waitFor('ADDED events for w1 and w2', () => seen.includes('ADDED w1') && seen.includes('ADDED w2'));
    } finally {
      watch.abort();
    }
  });

  it('an update with a stale resourceVersion gets 409 Conflict', async () => {
    type Widget = { metadata: { name: string; resourceVersion: string }; spec: { size: number } };
    const key = { group, version: 'v1', namespace: ns, plural, name: 'w1' };
    const stale = (await custom.getNamespacedCustomObject(key)) as Widget;
    await custom.replaceNamespacedCustomObject({ ...key, body: { ...stale, spec: { size: 2 } } });
    expect(await statusOf(custom.replaceNamespacedCustomObject({ ...key, body: { ...stale, spec: { size: 3 } } }))).to.equal(409);
    expect(((await custom.getNamespacedCustomObject(key)) as Widget).spec.size).to.equal(2);
  });

  describe('a ServiceAccount token bound to a Pod on a node', () => {
    const sa = 'proof-sa';
    const nodeName = uniqueName('proof-node');
    let token = '';

    before(async () => {
      const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
      await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
      await rbac.createNamespacedRole({
        namespace: ns,
        body: { metadata: { name: 'read-configmaps' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'read-configmaps' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
        },
      });
      // A stand-in for a scheduled Pod: nodeName set by hand, nothing ever runs it.
      const pod = await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'bound' },
          spec: { serviceAccountName: sa, nodeName, containers: [{ name: 'c', image: 'registry.invalid/never-pulled:0' }] },
        },
      });
      const tr = await core.createNamespacedServiceAccountToken({
        name: sa, namespace: ns,
        body: { spec: { audiences: [], expirationSeconds: 600, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'bound', uid: pod.metadata?.uid } } },
      });
      token = tr.status?.token ?? '';
    });

    it('TokenReview shows the ServiceAccount, the Pod and the node-name extra', async () => {
      const review = await admin.makeApiClient(AuthenticationV1Api).createTokenReview({ body: { spec: { token } } });
      expect(review.status?.authenticated).to.equal(true);
      expect(review.status?.user?.username).to.equal(`system:serviceaccount:${ns}:${sa}`);
      const extra = review.status?.user?.extra ?? {};
      expect(extra['authentication.kubernetes.io/node-name']).to.deep.equal([nodeName]);
      expect(extra['authentication.kubernetes.io/pod-name']).to.deep.equal(['bound']);
    });

    it('RBAC lets the token do what its Role grants and denies the rest (403)', async () => {
      const user = `system:serviceaccount:${ns}:${sa}`;
      const authz = admin.makeApiClient(AuthorizationV1Api);
      const may = async (resource: string) => (await authz.createSubjectAccessReview({
        body: { spec: { user, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`], resourceAttributes: { namespace: ns, verb: 'list', resource } } },
      })).status?.allowed;
      // The RoleBinding reaches the authorizer's cache asynchronously.
      await waitFor('the RoleBinding to take effect', async () => (await may('configmaps')) === true);
      expect(await may('secrets')).to.equal(false);

      const asSa = tokenKubeConfig(token).makeApiClient(CoreV1Api);
      const configmaps = await asSa.listNamespacedConfigMap({ namespace: ns });
      expect(configmaps.items).to.be.an('array');
      expect(await statusOf(asSa.listNamespacedSecret({ namespace: ns }))).to.equal(403);
      expect(await statusOf(asSa.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'nope' } } }))).to.equal(403);
    });
  });

  it("kube-controller-manager's garbage collector deletes a dependent whose owner is gone", async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' }] } },
    });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: 'owner' });
    await waitFor('the dependent to be garbage-collected', () => gone(() => core.readNamespacedConfigMap({ namespace: ns, name: 'dependent' })), 60_000);
  });

  it('a new namespace gets the default ServiceAccount and kube-root-ca.crt; deleting it completes', async () => {
    const fresh = uniqueName('proof-ns');
    namespaces.push(fresh);
    await core.createNamespace({ body: { metadata: { name: fresh } } });
    await waitFor('the default ServiceAccount', async () => !(await gone(() => core.readNamespacedServiceAccount({ namespace: fresh, name: 'default' }))));
    await waitFor('kube-root-ca.crt', async () => !(await gone(() => core.readNamespacedConfigMap({ namespace: fresh, name: 'kube-root-ca.crt' }))));
    const ca = await core.readNamespacedConfigMap({ namespace: fresh, name: 'kube-root-ca.crt' });
    expect(ca.data?.['ca.crt']).to.contain('BEGIN CERTIFICATE');

    // Content the namespace controller must delete first, including a custom object.
    await core.createNamespacedConfigMap({ namespace: fresh, body: { metadata: { name: 'content' } } });
    await custom.createNamespacedCustomObject({
      group, version: 'v1', namespace: fresh, plural, body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'content' } },
    });
    await core.deleteNamespace({ name: fresh });
    await waitFor('the namespace deletion to complete', () => gone(() => core.readNamespace({ name: fresh })), 60_000);
  });
});
