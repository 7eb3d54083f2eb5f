// Installing on the REAL local kube-apiserver: helm install/upgrade with and without crds.install, and
// `kubectl apply -f crds/ -f manifests/`. No scheduler or kubelet here, so pods stay Pending: these
// tests prove the API server accepts every object (schema, RBAC, admission objects), not that pods run.
import { expect } from 'chai';
import { join } from 'node:path';
import { CHART_DIR, CRDS_DIR, MANIFESTS_DIR, runHelm } from '../../../scripts/render-manifests.ts';
import { kubectl, testKubeconfigPath, uniqueName } from '../../support/cluster.ts';

const CRD_NAMES = ['mdevdevices', 'mdevmigrations', 'mdevnodes', 'mdevprobes'].map((p) => `${p}.mdev-operator.io`);

function helm(args: string[]) {
  return runHelm([...args, '--kubeconfig', testKubeconfigPath()]);
}

async function ok(args: string[]): Promise<string> {
  const r = await kubectl(args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** One release in its own namespaces, so it never meets another test's objects. */
function release() {
  const name = uniqueName('mdevop');
  return { name, namespace: `${name}-system`, agentNamespace: `${name}-agent`, fullname: `${name}-mdev-operator` };
}

async function uninstall(rel: ReturnType<typeof release>): Promise<void> {
  // The webhooks (failurePolicy Fail, no controller running) would refuse every VMIM of later tests.
  await helm(['uninstall', rel.name, '--namespace', rel.namespace]);
  await kubectl(['delete', 'namespace', rel.namespace, rel.agentNamespace, '--ignore-not-found', '--wait=false']);
}

describe('chart on the real API server', function () {
  this.timeout(240_000);

  for (const crdsInstall of [true, false]) {
    describe(`helm install and upgrade with crds.install=${crdsInstall}`, () => {
      const rel = release();
      after(() => uninstall(rel));

      it('installs every object (pods stay Pending: no scheduler or kubelet)', async () => {
        if (!crdsInstall) await ok(['apply', '-f', CRDS_DIR]);
        const r = await helm(['install', rel.name, CHART_DIR, '--namespace', rel.namespace, '--create-namespace',
          '--set', `agent.namespace=${rel.agentNamespace}`, '--set', `crds.install=${crdsInstall}`,
          // Other tests may have applied crds/ with kubectl already; a fresh cluster would not need this.
          ...(crdsInstall ? ['--take-ownership'] : [])]);
        expect(r.code, r.stderr).to.equal(0);
        const d = JSON.parse(await ok(['get', 'deployment', `${rel.fullname}-controller`, '-n', rel.namespace, '-o', 'json'])) as { spec: { replicas: number } };
        expect(d.spec.replicas).to.equal(2);
        await ok(['get', 'daemonset', `${rel.fullname}-agent`, '-n', rel.agentNamespace]);
        const ns = JSON.parse(await ok(['get', 'namespace', rel.agentNamespace, '-o', 'json'])) as { metadata: { labels: Record<string, string> } };
        expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).to.equal('privileged');
        await ok(['get', 'validatingadmissionpolicy', `${rel.fullname}-agent-node-confinement`]);
        await ok(['get', 'validatingadmissionpolicybinding', `${rel.fullname}-agent-node-confinement`]);
        await ok(['get', 'mutatingwebhookconfiguration', rel.fullname]);
        await ok(['get', 'validatingwebhookconfiguration', rel.fullname]);
        await ok(['get', 'poddisruptionbudget', `${rel.fullname}-controller`, '-n', rel.namespace]);
      });

      it(crdsInstall ? 'owns the CRDs with helm.sh/resource-policy: keep' : 'leaves the CRDs to kubectl', async () => {
        for (const crd of CRD_NAMES) {
          const o = JSON.parse(await ok(['get', 'crd', crd, '-o', 'json'])) as { metadata: { annotations?: Record<string, string> } };
          const a = o.metadata.annotations ?? {};
          if (crdsInstall) {
            expect(a['meta.helm.sh/release-name'], crd).to.equal(rel.name);
            expect(a['helm.sh/resource-policy'], crd).to.equal('keep');
          } else {
            expect(a['meta.helm.sh/release-name'] ?? '', crd).to.not.equal(rel.name);
          }
        }
      });

      it('upgrades in place with changed values', async () => {
        const r = await helm(['upgrade', rel.name, CHART_DIR, '--namespace', rel.namespace,
          '--set', `agent.namespace=${rel.agentNamespace}`, '--set', `crds.install=${crdsInstall}`,
          '--set', 'controller.replicas=3', '--set', 'webhook.mode=warn']);
        expect(r.code, r.stderr).to.equal(0);
        const d = JSON.parse(await ok(['get', 'deployment', `${rel.fullname}-controller`, '-n', rel.namespace, '-o', 'json'])) as
          { spec: { replicas: number; template: { spec: { containers: Array<{ args: string[] }> } } } };
        expect(d.spec.replicas).to.equal(3);
        expect(d.spec.template.spec.containers[0]!.args).to.include('--webhook-mode=warn');
        const history = await helm(['history', rel.name, '--namespace', rel.namespace, '-o', 'json']);
        expect((JSON.parse(history.stdout) as Array<{ status: string }>).map((h) => h.status)).to.deep.equal(['superseded', 'deployed']);
      });
    });
  }

  describe('kubectl apply -f crds/ -f manifests/', () => {
    // manifests/ use the fixed names of a default install (mdev-operator-system, mdev-operator-agent).
    // Everything but the namespaces is deleted afterwards; the namespaces stay (other tests may
    // use mdev-operator-system, and a Terminating namespace would break them).
    const nonNamespaceFiles = ['10-rbac.yaml', '20-admission-policy.yaml', '30-services.yaml', '40-workloads.yaml', '50-webhooks.yaml'].map((f) => join(MANIFESTS_DIR, f));
    after(async () => {
      await kubectl(['delete', '--ignore-not-found', '--wait=false', ...nonNamespaceFiles.flatMap((f) => ['-f', f])]);
    });

    it('applies cleanly, and again (an upgrade by re-apply)', async () => {
      const first = await kubectl(['apply', '-f', CRDS_DIR, '-f', MANIFESTS_DIR]);
      expect(first.code, first.stderr).to.equal(0);
      expect(first.stdout).to.match(/deployment\.apps\/mdev-operator-controller (created|configured|unchanged)/);
      expect(first.stdout).to.match(/validatingadmissionpolicy\.admissionregistration\.k8s\.io\/mdev-operator-agent-node-confinement/);
      const second = await kubectl(['apply', '-f', CRDS_DIR, '-f', MANIFESTS_DIR]);
      // kubectl may report "configured" here (lists without merge keys are re-sent); nothing must fail.
      expect(second.code, second.stderr).to.equal(0);
    });

    it('puts the controller in mdev-operator-system and the agent in mdev-operator-agent', async () => {
      await ok(['get', 'deployment', 'mdev-operator-controller', '-n', 'mdev-operator-system']);
      await ok(['get', 'daemonset', 'mdev-operator-agent', '-n', 'mdev-operator-agent']);
    });
  });
});
