import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import { loadKubeConfig } from '../../../src/kube/client.ts';

function kubeconfigFile(server: string, context: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  const path = join(dir, 'config');
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': context,
    clusters: [{ name: context, cluster: { server } }],
    users: [{ name: context, user: { token: 't' } }],
    contexts: [{ name: context, context: { cluster: context, user: context } }],
  }));
  return path;
}

describe('loadKubeConfig', () => {
  const a = kubeconfigFile('https://a.example:6443', 'a');
  const b = kubeconfigFile('https://b.example:6443', 'b');

  it('prefers --kubeconfig over KUBECONFIG', () => {
    const kc = loadKubeConfig({ kubeconfig: b }, { KUBECONFIG: a });
    expect(kc.getCurrentCluster()?.server).to.equal('https://b.example:6443');
  });

  it('uses KUBECONFIG, merging a path list with the first file\'s context winning', () => {
    const kc = loadKubeConfig({}, { KUBECONFIG: [a, b].join(delimiter) });
    expect(kc.getCurrentCluster()?.server).to.equal('https://a.example:6443');
    expect(kc.getContexts().map((c) => c.name).sort()).to.deep.equal(['a', 'b']);
  });

  it('names the flag or the variable when nothing can be loaded', () => {
    expect(() => loadKubeConfig({ kubeconfig: '/nonexistent/kc' }, {})).to.throw(/--kubeconfig \/nonexistent\/kc does not exist/);
    expect(() => loadKubeConfig({}, { KUBECONFIG: '/nonexistent/kc' })).to.throw(/KUBECONFIG=\/nonexistent\/kc names no existing file.*--kubeconfig/);
    expect(() => loadKubeConfig({}, {})).to.throw(/KUBECONFIG is not set/);
  });
});
