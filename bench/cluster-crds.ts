// What every benchmark cluster needs before a suite runs: the operator's CRDs (established) and
// the KubeVirt stand-in CRDs, on the cluster of `kubeconfigPath`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT } from '../dev/localcluster/index.ts';
import { installKubevirtStandins } from '../dev/standins/kubevirt-crds.ts';

const OPERATOR_CRDS = ['mdevdevices', 'mdevmigrations', 'mdevnodes', 'mdevprobes'].map((p) => `crd/${p}.mdev-operator.io`);

export async function installBenchCrds(kc: KubeConfig, kubeconfigPath: string): Promise<void> {
  const kubectl = (args: string[]) => promisify(execFile)('kubectl', ['--kubeconfig', kubeconfigPath, ...args], { cwd: REPO_ROOT, maxBuffer: 16 << 20 });
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', 'crds/']);
  await kubectl(['wait', '--for', 'condition=Established', '--timeout=60s', ...OPERATOR_CRDS]);
  await installKubevirtStandins(kc);
}
