import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { expect } from 'chai';
import { loadKubeConfig } from '../../../src/kube/client.ts';

/** A kubeconfig whose contexts are named after their clusters; the first context is the current one. */
function kubeconfigFile(servers: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  const path = join(dir, 'config');
  const names = Object.keys(servers);
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': names[0],
    clusters: names.map((name) => ({ name, cluster: { server: servers[name] } })),
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: names.map((name) => ({ name, context: { cluster: name, user: 'u' } })),
  }));
  return path;
}

describe('loadKubeConfig', () => {
  const a = kubeconfigFile({ a: 'https://a.example:6443' });
  const b = kubeconfigFile({ b: 'https://b.example:6443' });
  const two = kubeconfigFile({ dev: 'https://dev.example:6443', prod: 'https://prod.example:6443' });

  it('prefers --kubeconfig over KUBECONFIG', () => {
    const kc = loadKubeConfig({ kubeconfig: b }, { KUBECONFIG: a });
    expect(kc.getCurrentCluster()?.server).to.equal('https://b.example:6443');
  });

  it('uses KUBECONFIG, merging a path list with the first file\'s context winning', () => {
    const kc = loadKubeConfig({}, { KUBECONFIG: [a, b].join(delimiter) });
    expect(kc.getCurrentCluster()?.server).to.equal('https://a.example:6443');
    expect(kc.getContexts().map((c) => c.name).sort()).to.deep.equal(['a', 'b']);
  });

  it('--context picks a context other than the current one, as kubectl does', () => {
    expect(loadKubeConfig({ kubeconfig: two }, {}).getCurrentCluster()?.server).to.equal('https://dev.example:6443');
    const kc = loadKubeConfig({ kubeconfig: two, context: 'prod' }, {});
    expect(kc.getCurrentContext()).to.equal('prod');
    expect(kc.getCurrentCluster()?.server).to.equal('https://prod.example:6443');
    expect(kc.getCurrentUser()?.name).to.equal('u');
  });

  it('--context finds a context in any file of a KUBECONFIG list (merged like kubectl)', () => {
    const kc = loadKubeConfig({ context: 'prod' }, { KUBECONFIG: [a, two].join(delimiter) });
    expect(kc.getCurrentCluster()?.server).to.equal('https://prod.example:6443');
    expect(loadKubeConfig({ context: 'a' }, { KUBECONFIG: [two, a].join(delimiter) }).getCurrentCluster()?.server).to.equal('https://a.example:6443');
  });

  it('an empty --context means the current-context, as in kubectl', () => {
    expect(loadKubeConfig({ kubeconfig: two, context: '' }, {}).getCurrentContext()).to.equal('dev');
  });

  it('an unknown --context fails naming it, where it looked and the contexts there', () => {
    expect(() => loadKubeConfig({ kubeconfig: two, context: 'staging' }, {})).to.throw(
      `--context staging: no context named "staging" in --kubeconfig ${two}; available contexts: dev, prod`,
    );
    expect(() => loadKubeConfig({ context: 'staging' }, { KUBECONFIG: [a, b].join(delimiter) })).to.throw(
      `no context named "staging" in KUBECONFIG=${[a, b].join(delimiter)}; available contexts: a, b`,
    );
  });

  it('names the flag or the variable when nothing can be loaded', () => {
    expect(() => loadKubeConfig({ kubeconfig: '/nonexistent/kc' }, {})).to.throw(/--kubeconfig \/nonexistent\/kc does not exist/);
    expect(() => loadKubeConfig({}, { KUBECONFIG: '/nonexistent/kc' })).to.throw(/KUBECONFIG=\/nonexistent\/kc names no existing file.*--kubeconfig/);
    expect(() => loadKubeConfig({}, {})).to.throw(/KUBECONFIG is not set/);
  });
});
