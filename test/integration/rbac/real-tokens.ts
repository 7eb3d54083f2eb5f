// Real identities for the RBAC tests: the chart's RBAC and admission-policy objects installed from
// `helm template`, ServiceAccount tokens from the TokenRequest API (optionally bound to a Pod, whose
// spec.nodeName the API server copies into the token), KubeConfigs that authenticate with nothing
// but such a bearer token, and a recorder of every HTTP status the API server answers through one.
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { CHART_DIR, runHelm } from '../../../scripts/render-manifests.ts';
import { isAlreadyExists } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { interceptRequests } from '../../../src/kube/transport.ts';
import { kubectl } from '../../support/cluster.ts';

/**
 * The kinds that decide what a component may do, plus the owner ConfigMap its run-time objects
 * reference; Deployments, Services and webhooks are left out.
 */
const IDENTITY_KINDS = new Set([
  'Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding',
  'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'ConfigMap',
]);

export interface ChartIdentities {
  release: string;
  namespace: string;
  agentNamespace: string;
  fullname: string;
  controllerServiceAccount: string;
  agentServiceAccount: string;
  /** The chart's ConfigMap that owns the Leases and the TLS Secret (--owner-configmap). */
  ownerConfigMap: string;
  /** The applied YAML (for the cleanup). */
  yaml: string;
}

/**
 * Renders the chart for a fresh release and applies only its ServiceAccounts, RBAC and admission
 * policy (no Deployment runs here: there is no kubelet; webhook configurations would gate every
 * VMIM of the shared test cluster). `webhookMode` decides which webhook rules the roles carry.
 */
export async function installChartIdentities(release: string, webhookMode: 'enforce' | 'warn' | 'off'): Promise<ChartIdentities> {
  const namespace = `${release}-system`;
  const agentNamespace = `${release}-agent`;
  const r = await runHelm(['template', release, CHART_DIR, '--namespace', namespace, '--set', `agent.namespace=${agentNamespace}`,
    '--set', 'crds.install=false', '--set', `webhook.mode=${webhookMode}`]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const kept = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind?: string } | null).filter((o) => o?.kind && IDENTITY_KINDS.has(o.kind));
  const yaml = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }, ...kept].map((o) => stringify(o)).join('---\n');
  const applied = await kubectl(['apply', '-f', '-'], { input: yaml });
  if (applied.code !== 0) throw new Error(`applying the chart's RBAC failed: ${applied.stderr}`);
  const fullname = `${release}-mdev-operator`;
  return { release, namespace, agentNamespace, fullname, controllerServiceAccount: `${fullname}-controller`, agentServiceAccount: `${fullname}-agent`, ownerConfigMap: `${fullname}-owner`, yaml };
}

/** Deletes what installChartIdentities applied; bound pods go first (no kubelet finishes their deletion). */
export async function removeChartIdentities(ids: ChartIdentities): Promise<void> {
  for (const ns of [ids.namespace, ids.agentNamespace]) await kubectl(['delete', 'pods', '--all', '-n', ns, '--grace-period=0', '--force', '--wait=false']);
  await kubectl(['delete', '-f', '-', '--ignore-not-found', '--wait=false'], { input: ids.yaml });
}

/**
 * Waits until the API server's RBAC cache grants `verb` on `resource` to `user` (bindings reach
 * the authorizer asynchronously; a controller started earlier would log 403s that are not the chart's).
 */
export async function waitUntilAllowed(user: string, verb: string, resource: string, namespace?: string): Promise<void> {
  const args = ['auth', 'can-i', verb, resource, '--as', user, ...(namespace ? ['-n', namespace] : [])];
  for (let i = 0; i < 100; i++) {
    if ((await kubectl(args)).stdout.trim() === 'yes') return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${user} never became allowed to ${verb} ${resource}: is the chart's binding applied?`);
}

/** A Pod that stays Pending (no kubelet): the object a token is bound to. `nodeName` goes into the token. */
export async function createBindingPod(admin: KubeConfig, o: { namespace: string; name: string; serviceAccount: string; nodeName?: string }): Promise<string> {
  const body = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      serviceAccountName: o.serviceAccount,
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      // The node lifecycle controller must not evict it when the stand-in node stops heartbeating.
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'stand-in', image: 'registry.invalid/never-pulled:0' }],
    },
  };
  const pod = (await kubeRequest(admin, { method: 'POST', path: `/api/v1/namespaces/${o.namespace}/pods`, body })) as { metadata: { uid: string } };
  return pod.metadata.uid;
}

/** A TokenRequest for the ServiceAccount; with `boundPod` the token carries the pod (and its node) and dies with it. */
export async function requestToken(admin: KubeConfig, namespace: string, serviceAccount: string, boundPod?: { name: string; uid: string }): Promise<string> {
  const body = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: {
      expirationSeconds: 3600,
      ...(boundPod ? { boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: boundPod.name, uid: boundPod.uid } } : {}),
    },
  };
  const res = (await kubeRequest(admin, { method: 'POST', path: `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, body })) as {
    status?: { token?: string };
  };
  if (!res.status?.token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  return res.status.token;
}

/** A pod bound to `nodeName` in `namespace` and a token bound to that pod: the agent's projected token. */
export async function podBoundToken(admin: KubeConfig, o: { namespace: string; serviceAccount: string; podName: string; nodeName?: string }): Promise<string> {
  const uid = await createBindingPod(admin, { namespace: o.namespace, name: o.podName, serviceAccount: o.serviceAccount, nodeName: o.nodeName });
  return requestToken(admin, o.namespace, o.serviceAccount, { name: o.podName, uid });
}

export interface TokenReviewStatus {
  authenticated?: boolean;
  user?: { username?: string; extra?: Record<string, string[]> };
  error?: string;
}

export async function reviewToken(admin: KubeConfig, token: string): Promise<TokenReviewStatus> {
  const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } };
  const res = (await kubeRequest(admin, { method: 'POST', path: '/apis/authentication.k8s.io/v1/tokenreviews', body })) as { status?: TokenReviewStatus };
  return res.status ?? {};
}

export async function ensureNodeObject(admin: KubeConfig, name: string): Promise<void> {
  try {
    await kubeRequest(admin, { method: 'POST', path: '/api/v1/nodes', body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubevirt.io/schedulable': 'true' } } } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Bearer-token KubeConfigs whose every response is recorded
// ---------------------------------------------------------------------------------------------

export interface RecordedCall {
  method: string;
  path: string;
  status: number;
}

/** Every response the API server sent through one KubeConfig, including those the code swallows (Events). */
export class CallRecorder {
  readonly calls: RecordedCall[] = [];

  record(call: RecordedCall): void {
    this.calls.push(call);
  }

  /** 401 and 403 answers: a verb the chart does not grant, or an admission policy refusal. */
  refused(): RecordedCall[] {
    return this.calls.filter((c) => c.status === 401 || c.status === 403);
  }

  /** Calls whose method is `method` and whose path (query stripped) matches `path`. */
  matching(method: string, path: RegExp): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && path.test(c.path.split('?')[0] as string));
  }

  describe(calls: readonly RecordedCall[] = this.calls): string {
    return calls.map((c) => `${c.method} ${c.path} -> ${c.status}`).join('\n');
  }
}

/** The parts of an undici handler we touch. */
type Handler = Record<string | symbol, unknown>;

/** Wraps `handler` so the response status reaches `onStatus`; both undici handler styles are covered. */
function observeStatus(handler: Handler, onStatus: (status: number) => void): Handler {
  return new Proxy(handler, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (prop === 'onResponseStart') return (...args: unknown[]) => { onStatus(args[1] as number); return fn.apply(target, args); };
      if (prop === 'onHeaders') return (...args: unknown[]) => { onStatus(args[0] as number); return fn.apply(target, args); };
      return fn.bind(target);
    },
  });
}

/**
 * A KubeConfig for the test cluster's server and CA that authenticates with `token` only, and
 * records every response (requests, watches and generated clients all use its dispatcher).
 */
export function tokenKubeConfig(admin: KubeConfig, token: string, recorder?: CallRecorder): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('the test kubeconfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: cluster.server, caData: cluster.caData, caFile: cluster.caFile, skipTLSVerify: false }],
    users: [{ name: 'token', token }],
    contexts: [{ name: 'token', cluster: 'test', user: 'token' }],
    currentContext: 'token',
  });
  if (!recorder) return kc;
  interceptRequests(kc, (dispatch) => (opts, handler) =>
    dispatch(opts, observeStatus(handler as unknown as Handler, (status) => recorder.record({ method: opts.method ?? '?', path: opts.path ?? '?', status })) as unknown as typeof handler));
  return kc;
}

// ---------------------------------------------------------------------------------------------
// Which RBAC permission each recorded call needed
// ---------------------------------------------------------------------------------------------

/** `group/resource[/subresource]:verb`, the core group written as `core` (e.g. `core/pods:watch`). */
export type Permission = string;

/**
 * The permissions the API server's authorizer checked for `call`: the request verb of the path
 * (get/list/watch/create/update/patch/delete/deletecollection), plus `create` for a PATCH or PUT
 * that created the object (201), which the API server authorizes as a create as well.
 */
export function permissionsOf(call: RecordedCall): Permission[] {
  const url = new URL(call.path, 'https://api.invalid');
  const parts = url.pathname.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api') {
    group = 'core';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    group = parts[1] as string;
    rest = parts.slice(3);
  } else {
    return []; // discovery (/api, /apis, /version): allowed to every authenticated user
  }
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, sub] = rest;
  if (!resource) return [];
  const res = `${group}/${resource}${sub ? `/${sub}` : ''}`;
  const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
  const verb = { GET: name ? 'get' : watch ? 'watch' : 'list', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection' }[call.method];
  if (!verb) return [];
  const created = (call.method === 'PATCH' || call.method === 'PUT') && call.status === 201;
  return created ? [`${res}:${verb}`, `${res}:create`] : [`${res}:${verb}`];
}

/** Every permission the recorded calls used, sorted. */
export function usedPermissions(calls: readonly RecordedCall[]): Permission[] {
  return [...new Set(calls.flatMap(permissionsOf))].sort();
}

interface PolicyRule { apiGroups?: string[]; resources?: string[]; verbs?: string[] }

/** Every permission the chart's ClusterRole and Role named `name` grant (resourceNames ignored), sorted. */
export function grantedPermissions(ids: ChartIdentities, name: string): Permission[] {
  const roles = parseAllDocuments(ids.yaml)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; rules?: PolicyRule[] } | null)
    .filter((o) => (o?.kind === 'ClusterRole' || o?.kind === 'Role') && o.metadata?.name === name);
  const out = new Set<Permission>();
  for (const rule of roles.flatMap((r) => r?.rules ?? [])) {
    for (const g of rule.apiGroups ?? []) for (const r of rule.resources ?? []) for (const v of rule.verbs ?? []) out.add(`${g === '' ? 'core' : g}/${r}:${v}`);
  }
  return [...out].sort();
}
