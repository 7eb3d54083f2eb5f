// `mdev-operator demo --once` in-process against the REAL kube-apiserver of the test run, as an
// existing cluster (--kubeconfig): the controller, its webhook and the STAND-IN fleet (fake sysfs,
// simulated vendor drivers, the real agent code, kubelet and KubeVirt stand-ins) run in this
// process. Names are unique to this run, so other tests' nodes and namespaces never mix in.
import { expect } from 'chai';
import { runDemo } from '../../../dev/cli/demo-command.ts';
import type { StoryResult } from '../../../dev/demo/story.ts';
import type { Check } from '../../../dev/demo/summary.ts';
import { isNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { testKubeConfig, testKubeconfigPath, uniqueName } from '../../support/cluster.ts';

describe('demo --once on the real kube-apiserver (stand-in fleet and KubeVirt stand-in)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const id = uniqueName('dm');
  const webhookConfigName = `${id}-vmim`;
  let code = -1;
  let output = '';
  let result: StoryResult | undefined;
  let checks: Check[] = [];

  before(async () => {
    code = await runDemo({
      once: true,
      kubeconfig: testKubeconfigPath(),
      clusterName: 'unused-by-an-existing-cluster',
      scenario: { prefix: `${id}-`, operatorNamespace: `${id}-op`, namespace: `${id}-vm` },
      webhookConfigName,
      write: (t) => void (output += t),
      onResult: (r, c) => {
        result = r;
        checks = c;
      },
    });
  });

  after(async () => {
    // The operator namespace may be shared with a real installation, so the demo leaves it; the test removes its own.
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${id}-op` }).catch(() => undefined);
  });

  it('passes every check of the story and exits 0', () => {
    expect(checks.map((c) => c.name)).to.have.length(4);
    expect(checks.filter((c) => !c.ok), output).to.deep.equal([]);
    expect(code, output).to.equal(0);
  });

  it('moves vm-a to the only accepting node and fails vm-b with each node\'s reason', () => {
    const s = result?.scenario;
    expect(result?.succeed.targetNode).to.equal(`${id}-h100-b`);
    expect(result?.fail.phase).to.equal('Failed');
    expect(result?.fail.candidates.find((c) => c.node === s?.staleNode)?.message).to.match(/lease/);
    expect(result?.fail.candidates.find((c) => c.node === `${id}-h100-a`)?.message).to.match(/branch differs/);
  });

  it('lists the mtty and accel nodes as TypeMismatch for an H100 VMI in (b) and (c), from their agents\' published devices', () => {
    const r = result as StoryResult;
    for (const m of [r.fail, r.evict.recorded]) {
      for (const node of [`${id}-mtty-1`, `${id}-accel-1`]) expect(m?.candidates.find((c) => c.node === node), `${m?.name} ${node}`).to.deep.include({ verdict: 'TypeMismatch', message: 'no nvidia-1012 device' });
    }
    expect(output).to.match(new RegExp(`${id}-accel-1\\s+TypeMismatch`));
  });

  it('spends fewer probes than the exhaustive search and prints the plan-drain table', () => {
    const r = result as StoryResult;
    expect(r.succeed.probes).to.be.greaterThan(0);
    expect(r.succeed.probes).to.be.lessThan(r.succeed.exhaustiveProbes);
    expect(r.drainTable).to.match(/VMI\s+DEVICES\s+TARGET\s+VERIFIED\s+REASON/);
    expect(output).to.match(/Probes sent: \d+; an exhaustive search .* would have sent \d+/);
  });

  it('stops what it started on an existing cluster: the stand-in nodes, its namespace and the webhook configuration', async () => {
    const gone = async (path: string): Promise<boolean> => kubeRequest(kc, { method: 'GET', path }).then((o) => Boolean((o as { metadata?: { deletionTimestamp?: string } }).metadata?.deletionTimestamp), (err: unknown) => isNotFound(err));
    expect(await gone(`/api/v1/nodes/${id}-h100-a`)).to.equal(true);
    expect(await gone(`/api/v1/namespaces/${id}-vm`)).to.equal(true);
    expect(await gone(`/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${webhookConfigName}`)).to.equal(true);
  });
});
