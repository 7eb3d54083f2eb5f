// The chart with the real helm binary (built into the cache with the control plane): lint, render,
// schema refusals, and that manifests/ and the chart's copy of crds/ have not drifted.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { CHART_DIR, CRDS_DIR, drift, runHelm } from '../../../scripts/render-manifests.ts';
import { VALIDATE_MATCH_CONDITIONS } from '../../../src/webhook/admission-service.ts';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

const FIXTURES = join(REPO_ROOT, 'test', 'integration', 'chart', 'fixtures');
const NS = 'mdev-operator-system';

async function render(args: string[] = []): Promise<K8sObject[]> {
  const r = await runHelm(['template', 'mdev-operator', CHART_DIR, '--namespace', NS, ...args]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
}

function find(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? ` ${name}` : ''} in the rendered chart (have: ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')})`);
  return o;
}

/** "group/resource[names]" → sorted verbs, so a rule table compares independent of rule layout. */
function permissions(rules: Rule[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const r of rules) {
    for (const g of r.apiGroups) {
      for (const res of r.resources) {
        const key = `${g || 'core'}/${res}${r.resourceNames ? `[${r.resourceNames.join(',')}]` : ''}`;
        for (const v of r.verbs) (out[key] ??= new Set()).add(v);
      }
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]));
}

const sorted = (...verbs: string[]) => verbs.sort();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

describe('chart with the real helm', function () {
  this.timeout(120_000);
  let objs: K8sObject[];
  before(async () => {
    objs = await render();
  });

  describe('lint', () => {
    it('passes helm lint --strict with the default values', async () => {
      const r = await runHelm(['lint', '--strict', CHART_DIR]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.not.match(/\[(WARNING|ERROR)\]/);
    });

    it('passes helm lint --strict with a values file that sets every key', async () => {
      const r = await runHelm(['lint', '--strict', CHART_DIR, '-f', join(FIXTURES, 'values-all.yaml')]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.not.match(/\[(WARNING|ERROR)\]/);
    });
  });

  describe('values.schema.json', () => {
    it('refuses an unknown key and names it', async () => {
      const r = await runHelm(['template', 'x', CHART_DIR, '-f', join(FIXTURES, 'values-unknown-key.yaml')]);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/\/controller.*additional properties 'replica' not allowed/);
    });

    it('refuses a misspelled top-level key and names it', async () => {
      const r = await runHelm(['template', 'x', CHART_DIR, '--set', 'webhooks.mode=warn']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain("'webhooks'");
    });

    it('refuses a value of the wrong type and names the key', async () => {
      const r = await runHelm(['template', 'x', CHART_DIR, '-f', join(FIXTURES, 'values-wrong-type.yaml')]);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.match(/\/webhook\/timeoutSeconds.*got string, want integer/);
    });

    it('refuses an agent.podResourcesUnreadyAfter that is not a duration of at least 1s, naming the key', async () => {
      for (const bad of ['soon', '500ms', '0s', '3']) {
        const r = await runHelm(['template', 'x', CHART_DIR, '--set', `agent.podResourcesUnreadyAfter=${bad}`]);
        expect(r.code, bad).to.not.equal(0);
        expect(r.stderr, bad).to.contain('/agent/podResourcesUnreadyAfter');
      }
    });

    it('refuses a webhook mode outside enforce|warn|off', async () => {
      const r = await runHelm(['template', 'x', CHART_DIR, '--set', 'webhook.mode=audit']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('/webhook/mode');
    });
  });

  describe('rendered with default values', () => {
    it('labels every object with app.kubernetes.io/* and helm.sh/chart', () => {
      for (const o of objs) {
        const l = o.metadata.labels ?? {};
        for (const key of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/component', 'app.kubernetes.io/part-of', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
          expect(l, `${o.kind}/${o.metadata.name} label ${key}`).to.have.property(key);
        }
      }
    });

    it('runs 2 leader-elected controller replicas under the restricted security profile', () => {
      const d = find(objs, 'Deployment') as Any;
      expect(d.metadata.namespace).to.equal(NS);
      expect(d.spec.replicas).to.equal(2);
      const pod = d.spec.template.spec;
      expect(pod.securityContext).to.deep.include({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.containers[0];
      expect(c.args).to.include.members(['controller', '--leader-elect=true', `--namespace=${NS}`, '--owner-configmap=mdev-operator-owner', '--webhook-port=9443', '--webhook-mode=enforce', '--metrics-port=8080', '--health-port=8081', '--log-level=info']);
      // client-go's leader-election timings, passed through so they can be tuned per cluster.
      expect(c.args).to.include.members(['--leader-elect-lease-duration=15s', '--leader-elect-renew-deadline=10s', '--leader-elect-retry-period=2s']);
      expect(c.securityContext).to.deep.equal({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'health' });
      expect(c.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'health' });
      expect(c.ports).to.deep.include({ name: 'health', containerPort: 8081, protocol: 'TCP' });
      expect(c.ports).to.deep.include({ name: 'webhook', containerPort: 9443, protocol: 'TCP' });
      expect(c.resources.requests).to.have.keys('cpu', 'memory');
      expect(c.resources.limits).to.have.keys('cpu', 'memory');
      expect(c.env).to.deep.include({ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
      expect(c.volumeMounts).to.deep.include({ name: 'tmp', mountPath: '/tmp' });
      expect(pod.volumes.find((v: Any) => v.name === 'tmp').emptyDir).to.be.an('object');
    });

    it('renders the ConfigMap that owns the run-time Leases and TLS Secret in the release namespace, named to both components', () => {
      const owner = find(objs, 'ConfigMap', 'mdev-operator-owner');
      expect(owner.metadata.namespace).to.equal(NS);
      expect(owner.metadata.annotations?.['helm.sh/resource-policy'], 'helm uninstall must delete it').to.equal(undefined);
      expect(objs.filter((o) => o.kind === 'ConfigMap'), 'the only ConfigMap').to.have.length(1);
      const args = (kind: string): string[] => (find(objs, kind) as Any).spec.template.spec.containers[0].args;
      expect(args('Deployment')).to.include('--owner-configmap=mdev-operator-owner');
      expect(args('DaemonSet')).to.include('--owner-configmap=mdev-operator-owner');
    });

    it('protects the controller with a PodDisruptionBudget of minAvailable 1', () => {
      const pdb = find(objs, 'PodDisruptionBudget') as Any;
      expect(pdb.spec.minAvailable).to.equal(1);
      expect(pdb.spec.selector.matchLabels['app.kubernetes.io/component']).to.equal('controller');
    });

    it('keeps both controller replicas serving: rollouts surge, replicas spread over nodes, probes independent of the API server', () => {
      const dep = find(objs, 'Deployment') as Any;
      expect(dep.spec.replicas).to.equal(2);
      expect(dep.spec.strategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      const anti = dep.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
      expect(anti.podAffinityTerm.topologyKey).to.equal('kubernetes.io/hostname');
      expect(anti.podAffinityTerm.labelSelector.matchLabels).to.deep.equal(dep.spec.selector.matchLabels);
      const c = dep.spec.template.spec.containers[0];
      expect([c.livenessProbe.httpGet.path, c.readinessProbe.httpGet.path]).to.deep.equal(['/healthz', '/readyz']);
    });

    it('runs the privileged agent in its own namespace labelled for the privileged Pod Security level', () => {
      const ns = find(objs, 'Namespace', 'mdev-operator-agent');
      expect(ns.metadata.labels!['pod-security.kubernetes.io/enforce']).to.equal('privileged');
      const ds = find(objs, 'DaemonSet') as Any;
      expect(ds.metadata.namespace).to.equal('mdev-operator-agent');
      const pod = ds.spec.template.spec;
      const c = pod.containers[0];
      expect(c.args).to.include.members(['agent', '--node-name=$(NODE_NAME)', '--sysfs-root=/host/sys', '--backend=sysfs', `--namespace=${NS}`, '--podresources-socket=/var/lib/kubelet/pod-resources/kubelet.sock']);
      expect(c.args).to.include.members(['--owner-configmap=mdev-operator-owner', '--podresources-unready-after=180s']);
      expect(c.env).to.deep.include({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
      expect(c.securityContext.privileged).to.equal(true);
      expect(pod.volumes).to.deep.include({ name: 'host-sys', hostPath: { path: '/sys', type: 'Directory' } });
      expect(c.volumeMounts).to.deep.include({ name: 'host-sys', mountPath: '/host/sys' });
      expect(pod.volumes.find((v: Any) => v.name === 'pod-resources').hostPath.path).to.equal('/var/lib/kubelet/pod-resources');
      expect(pod.tolerations).to.deep.equal([{ operator: 'Exists' }]);
      expect(pod.nodeSelector).to.deep.equal({ 'kubernetes.io/os': 'linux' });
      expect(pod.serviceAccountName).to.equal('mdev-operator-agent');
      expect(pod.automountServiceAccountToken, 'the projected, pod-bound token carries the node name').to.not.equal(false);
    });

    it('gives the controller exactly the permissions it uses', () => {
      const cluster = permissions((find(objs, 'ClusterRole', 'mdev-operator-controller') as Any).rules);
      expect(cluster).to.deep.equal({
        'admissionregistration.k8s.io/mutatingwebhookconfigurations[mdev-operator]': sorted('get', 'patch'),
        'admissionregistration.k8s.io/validatingwebhookconfigurations[mdev-operator]': sorted('get', 'patch'),
        'core/events': sorted('create', 'list'),
        'core/nodes': sorted('list', 'watch'),
        'core/pods': ['list'],
        'kubevirt.io/kubevirts': ['list'],
        'kubevirt.io/virtualmachineinstancemigrations': sorted('get', 'list', 'watch', 'create', 'delete'),
        'kubevirt.io/virtualmachineinstances': sorted('get', 'list', 'watch'),
        'mdev-operator.io/mdevdevices': sorted('list', 'watch'),
        'mdev-operator.io/mdevdevices/status': ['patch'],
        'mdev-operator.io/mdevmigrations': sorted('list', 'watch', 'get', 'create', 'patch', 'delete'),
        'mdev-operator.io/mdevmigrations/finalizers': ['update'],
        'mdev-operator.io/mdevmigrations/status': ['patch'],
        'mdev-operator.io/mdevnodes': sorted('get', 'list', 'watch'),
        'mdev-operator.io/mdevnodes/status': ['patch'],
        'mdev-operator.io/mdevprobes': sorted('get', 'list', 'watch', 'create', 'patch', 'delete'),
      });
      const role = find(objs, 'Role', 'mdev-operator-controller') as Any;
      expect(role.metadata.namespace).to.equal(NS);
      expect(permissions(role.rules)).to.deep.equal({
        'coordination.k8s.io/leases': sorted('get', 'list', 'watch', 'create', 'update'),
        'core/configmaps[mdev-operator-owner]': ['get'],
        'core/secrets': ['create'],
        'core/secrets[mdev-operator-webhook-tls]': sorted('get', 'patch'),
      });
    });

    it('gives the agent exactly the permissions it uses, and leases only in the operator namespace', () => {
      const cluster = permissions((find(objs, 'ClusterRole', 'mdev-operator-agent') as Any).rules);
      expect(cluster).to.deep.equal({
        'core/nodes': ['get'],
        'core/pods': sorted('list', 'watch'),
        'mdev-operator.io/mdevdevices': sorted('list', 'watch', 'create', 'patch', 'delete'),
        'mdev-operator.io/mdevdevices/status': ['patch'],
        'mdev-operator.io/mdevnodes': sorted('list', 'watch', 'create', 'patch'),
        'mdev-operator.io/mdevprobes': sorted('list', 'watch'),
        'mdev-operator.io/mdevprobes/status': ['patch'],
        'resource.k8s.io/resourceslices': sorted('list', 'watch'),
      });
      const role = find(objs, 'Role', 'mdev-operator-agent') as Any;
      expect(role.metadata.namespace).to.equal(NS);
      expect(permissions(role.rules)).to.deep.equal({ 'coordination.k8s.io/leases': sorted('get', 'create', 'update'), 'core/configmaps[mdev-operator-owner]': ['get'] });
      const binding = find(objs, 'RoleBinding', 'mdev-operator-agent') as Any;
      expect(binding.subjects).to.deep.equal([{ kind: 'ServiceAccount', name: 'mdev-operator-agent', namespace: 'mdev-operator-agent' }]);
    });

    it('gates VMIM CREATE with mutating and validating webhooks on the controller Service', () => {
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
        const cfg = find(objs, kind, 'mdev-operator') as Any;
        expect(cfg.webhooks).to.have.length(1);
        const w = cfg.webhooks[0];
        expect(w.rules).to.deep.equal([{ apiGroups: ['kubevirt.io'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['virtualmachineinstancemigrations'], scope: 'Namespaced' }]);
        expect(w.clientConfig.service).to.include({ name: 'mdev-operator-webhook', namespace: NS, port: 443 });
        expect(w.clientConfig.caBundle, 'the controller patches caBundle at runtime').to.equal(undefined);
        expect(w.failurePolicy).to.equal('Fail');
        expect(w.timeoutSeconds).to.equal(10);
        // The mutating webhook reserves devices and records an MdevMigration, except on dry runs.
        expect(w.sideEffects).to.equal('NoneOnDryRun');
        expect(w.clientConfig.service.path).to.equal(kind.startsWith('Mutating') ? '/mutate-vmim' : '/validate-vmim');
        expect(w.namespaceSelector.matchExpressions).to.deep.equal([{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', NS, 'mdev-operator-agent'] }]);
        // The chart states the validating webhook's match conditions as the code does (local clusters).
        if (kind.startsWith('Mutating')) expect(w.matchConditions).to.equal(undefined);
        else expect(w.matchConditions).to.deep.equal(VALIDATE_MATCH_CONDITIONS);
      }
      const svc = find(objs, 'Service', 'mdev-operator-webhook') as Any;
      expect(svc.spec.selector['app.kubernetes.io/component']).to.equal('controller');
      expect(svc.spec.ports[0].targetPort).to.equal('webhook');
    });

    it('exposes controller and agent metrics through Services', () => {
      expect((find(objs, 'Service', 'mdev-operator-controller-metrics') as Any).spec.ports[0].port).to.equal(8080);
      expect((find(objs, 'Service', 'mdev-operator-agent-metrics') as Any).metadata.namespace).to.equal('mdev-operator-agent');
    });

    it('confines the agent to its node with a ValidatingAdmissionPolicy on the node-name extra (DRA pattern)', () => {
      const vap = find(objs, 'ValidatingAdmissionPolicy') as Any;
      expect(vap.apiVersion).to.equal('admissionregistration.k8s.io/v1');
      expect(vap.spec.matchConditions[0].expression).to.contain('"system:serviceaccount:mdev-operator-agent:mdev-operator-agent"');
      const rules = vap.spec.matchConstraints.resourceRules as Array<{ resources: string[]; operations: string[] }>;
      const ops = (res: string) => rules.filter((r) => r.resources.includes(res)).flatMap((r) => r.operations).sort();
      expect(ops('mdevdevices')).to.deep.equal(['CREATE', 'DELETE', 'UPDATE']);
      expect(ops('mdevnodes')).to.deep.equal(['CREATE', 'DELETE', 'UPDATE']);
      expect(ops('mdevprobes/status')).to.deep.equal(['UPDATE']);
      expect(ops('mdevprobes'), 'probes are written by the controller; RBAC already denies the agent').to.deep.equal([]);
      const vars = Object.fromEntries((vap.spec.variables as Array<{ name: string; expression: string }>).map((v) => [v.name, v.expression]));
      expect(vars.userNodeName).to.contain("request.userInfo.?extra[?'authentication.kubernetes.io/node-name'][?0]");
      expect(vars.target).to.contain("request.operation == 'DELETE' ? oldObject : object");
      expect(vars.objectNodeName).to.contain('spec.?nodeName');
      expect(vap.spec.validations[0].message).to.contain('pod-bound service-account token (ServiceAccountTokenPodNodeInfo)');
      expect(vap.spec.validations[1].messageExpression).to.contain("'agent on ' + variables.userNodeName + ' may only write objects of its own node");
      const binding = find(objs, 'ValidatingAdmissionPolicyBinding') as Any;
      expect(binding.spec).to.deep.equal({ policyName: vap.metadata.name, validationActions: ['Deny'] });
    });

    it('installs the CRDs from crds/ with helm.sh/resource-policy: keep', () => {
      const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
      const files = readdirSync(CRDS_DIR).filter((f) => f.endsWith('.yaml'));
      expect(files.length, 'crds/ holds the generated CRDs').to.be.greaterThan(0);
      expect(crds.map((c) => c.metadata.name).sort()).to.deep.equal(files.map((f) => (parse(readFileSync(join(CRDS_DIR, f), 'utf8')) as K8sObject).metadata.name).sort());
      for (const c of crds) expect(c.metadata.annotations?.['helm.sh/resource-policy'], c.metadata.name).to.equal('keep');
    });

    it('renders each CRD with the same content as crds/ (labels and annotations aside)', () => {
      const strip = (o: K8sObject) => JSON.stringify({ ...o, metadata: { ...o.metadata, labels: undefined, annotations: undefined } }, (_k, v: unknown) =>
        v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v);
      for (const f of readdirSync(CRDS_DIR).filter((x) => x.endsWith('.yaml'))) {
        const want = parse(readFileSync(join(CRDS_DIR, f), 'utf8')) as K8sObject;
        expect(strip(find(objs, 'CustomResourceDefinition', want.metadata.name)), f).to.equal(strip(want));
      }
    });

    it('renders no ServiceMonitor or PrometheusRule unless asked', () => {
      expect(objs.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).to.deep.equal([]);
    });
  });

  describe('rendered with other values', () => {
    it('leaves the CRDs out with crds.install=false, and unannotated with crds.keep=false', async () => {
      expect((await render(['--set', 'crds.install=false'])).filter((o) => o.kind === 'CustomResourceDefinition')).to.deep.equal([]);
      const unkept = (await render(['--set', 'crds.keep=false'])).filter((o) => o.kind === 'CustomResourceDefinition');
      expect(unkept.length).to.be.greaterThan(0);
      for (const c of unkept) expect(c.metadata.annotations?.['helm.sh/resource-policy']).to.equal(undefined);
    });

    it('drops the webhook configurations and the webhook port with webhook.mode=off', async () => {
      const off = await render(['--set', 'webhook.mode=off']);
      expect(off.filter((o) => /WebhookConfiguration$/.test(o.kind))).to.deep.equal([]);
      const c = (find(off, 'Deployment') as Any).spec.template.spec.containers[0];
      expect(c.args).to.include.members(['--webhook-port=0', '--webhook-mode=off']);
      const offCluster = permissions((find(off, 'ClusterRole', 'mdev-operator-controller') as Any).rules);
      expect(offCluster).to.not.have.any.keys('admissionregistration.k8s.io/mutatingwebhookconfigurations[mdev-operator]');
      expect(offCluster['mdev-operator.io/mdevmigrations'], 'admission records are the webhook\'s').to.deep.equal(sorted('list', 'watch'));
      expect(permissions((find(off, 'Role', 'mdev-operator-controller') as Any).rules)).to.not.have.any.keys('core/secrets');
    });

    it('passes webhook.mode=warn, failurePolicy and timeoutSeconds through', async () => {
      const warn = await render(['--set', 'webhook.mode=warn', '--set', 'webhook.failurePolicy=Ignore', '--set', 'webhook.timeoutSeconds=5']);
      expect((find(warn, 'Deployment') as Any).spec.template.spec.containers[0].args).to.include('--webhook-mode=warn');
      const w = (find(warn, 'ValidatingWebhookConfiguration') as Any).webhooks[0];
      expect([w.failurePolicy, w.timeoutSeconds]).to.deep.equal(['Ignore', 5]);
    });

    it('sets the controller\'s heap options where the process starts: NODE_OPTIONS and MALLOC_ARENA_MAX, each omitted when emptied', async () => {
      const env = (objs: K8sObject[]): Record<string, string> => {
        const c = (find(objs, 'Deployment') as Any).spec.template.spec.containers[0];
        return Object.fromEntries(c.env.filter((e: Any) => 'value' in e).map((e: Any) => [e.name, e.value]));
      };
      expect(env(await render([]))).to.include({ NODE_OPTIONS: '--max-semi-space-size=4', MALLOC_ARENA_MAX: '2' });
      const custom = env(await render(['-f', join(FIXTURES, 'values-all.yaml')]));
      expect(custom.NODE_OPTIONS).to.equal('--max-semi-space-size=2');
      expect(custom, 'mallocArenaMax 0 leaves glibc\'s default').to.not.have.property('MALLOC_ARENA_MAX');
      expect(env(await render(['--set', 'controller.nodeOptions=']))).to.not.have.property('NODE_OPTIONS');
    });

    it('renders ServiceMonitor and PrometheusRule alerts on the operator metrics when enabled', async () => {
      const all = await render(['-f', join(FIXTURES, 'values-all.yaml')]);
      find(all, 'ServiceMonitor');
      const exprs = ((find(all, 'PrometheusRule') as Any).spec.groups[0].rules as Array<{ alert: string; expr: string }>);
      expect(exprs.map((r) => r.alert)).to.deep.equal(['MdevOperatorAgentStale', 'MdevOperatorMigrationsFailing', 'MdevOperatorProbeTimeouts', 'MdevOperatorPodResourcesUnreachable']);
      expect(exprs[0]!.expr).to.contain('mdev_operator_agent_lease_stale');
      expect(exprs[1]!.expr).to.contain('mdev_operator_migrations_total{result="failed"}');
      expect(exprs[2]!.expr).to.contain('mdev_operator_probe_timeouts_total');
      expect(exprs[3]!.expr).to.contain('mdev_agent_podresources_up');
    });

    it('runs one agent DaemonSet per node pool with its backend, and keeps the default agent off the pools\' nodes', async () => {
      const objs = await render(['-f', join(FIXTURES, 'values-nvml-pools.yaml')]);
      const ds = objs.filter((o) => o.kind === 'DaemonSet') as Any[];
      expect(ds.map((d) => d.metadata.name)).to.deep.equal(['mdev-operator-agent', 'mdev-operator-agent-nvidia', 'mdev-operator-agent-intel']);
      const [base, nvidia, intel] = ds;
      const args = (d: Any): string[] => d.spec.template.spec.containers[0].args;
      const env = (d: Any): Record<string, string> => Object.fromEntries(d.spec.template.spec.containers[0].env.filter((e: Any) => 'value' in e).map((e: Any) => [e.name, e.value]));
      expect(args(base)).to.include('--backend=sysfs');
      expect(args(nvidia)).to.include('--backend=nvml');
      expect(args(intel)).to.include.members(['--backend=sysfs', '--resync-interval=30s']);
      expect(nvidia.spec.template.spec.runtimeClassName).to.equal('nvidia');
      expect(env(nvidia)).to.deep.equal({ NVIDIA_VISIBLE_DEVICES: 'all', NVIDIA_DRIVER_CAPABILITIES: 'utility', MDEV_NVML_LIBRARY: '/run/nvidia/driver/usr/lib64/libnvidia-ml.so.1' });
      expect(env(base)).to.deep.equal({});
      expect(nvidia.spec.template.spec.nodeSelector).to.deep.equal({ 'kubernetes.io/os': 'linux', 'nvidia.com/gpu.workload.config': 'vm-vgpu' });
      // Distinct selectors for the pools; the default keeps its (immutable) selector.
      expect(nvidia.spec.selector.matchLabels['mdev-operator.io/agent-pool']).to.equal('nvidia');
      expect(base.spec.selector.matchLabels).to.not.have.property('mdev-operator.io/agent-pool');
      // NOT nvidia AND NOT (vendor=intel AND gvt=yes): one term per choice of one label from each pool.
      const terms = base.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
      const notIn = (key: string, value: string) => ({ key, operator: 'NotIn', values: [value] });
      expect(terms).to.deep.equal([
        { matchExpressions: [notIn('nvidia.com/gpu.workload.config', 'vm-vgpu'), notIn('gvt', 'yes')] },
        { matchExpressions: [notIn('nvidia.com/gpu.workload.config', 'vm-vgpu'), notIn('vendor', 'intel')] },
      ]);
    });

    it('passes agent.podResourcesUnreadyAfter and the owner ConfigMap to every agent DaemonSet, pools included', async () => {
      const objs = await render(['-f', join(FIXTURES, 'values-nvml-pools.yaml'), '--set', 'agent.podResourcesUnreadyAfter=5m']);
      const ds = objs.filter((o) => o.kind === 'DaemonSet') as Any[];
      expect(ds).to.have.length(3);
      for (const d of ds) expect(d.spec.template.spec.containers[0].args, d.metadata.name).to.include.members(['--podresources-unready-after=5m', '--owner-configmap=mdev-operator-owner']);
    });

    it('refuses a pool without a node selector or backend, and pools next to a required node affinity of the default agent', async () => {
      const missing = await runHelm(['template', 'x', CHART_DIR, '--namespace', NS, '--set', 'agent.pools[0].name=gpu', '--set', 'agent.pools[0].backend=nvml']);
      expect(missing.code).to.not.equal(0);
      expect(missing.stderr).to.match(/nodeSelector/);
      const both = await runHelm(['template', 'x', CHART_DIR, '--namespace', NS, '-f', join(FIXTURES, 'values-nvml-pools.yaml'),
        '--set', 'agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=a',
        '--set', 'agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists']);
      expect(both.code).to.not.equal(0);
      expect(both.stderr).to.contain('cannot be combined with agent.pools');
    });

    it('refuses to put the privileged agent in the release namespace, naming the value', async () => {
      const r = await runHelm(['template', 'x', CHART_DIR, '--namespace', 'ops', '--set', 'agent.namespace=ops']);
      expect(r.code).to.not.equal(0);
      expect(r.stderr).to.contain('agent.namespace "ops" equals the release namespace');
    });
  });

  it('has manifests/ and charts/mdev-operator/files/crds in sync with the chart and crds/ (node scripts/render-manifests.ts)', async () => {
    expect(await drift()).to.deep.equal([]);
  });
});
