// What the controller and the agent load when they start (ADR 0018): @kubernetes/client-node's
// generated API surface costs ~50 MiB RSS per process, so neither may reach it through a static
// import. client-node stays a dependency only for kubeconfigs with a credential plugin, imported
// on demand by src/kube/kubeconfig.ts.
import { expect } from 'chai';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { loadedAtStart, readImportGraph } from '../../support/import-graph.ts';

const CLIENT_NODE = '@kubernetes/client-node';

describe('what the controller and the agent load at start (ADR 0018)', () => {
  for (const entry of ['src/cli/controller-command.ts', 'src/cli/agent-command.ts']) {
    it(`${entry} never loads ${CLIENT_NODE}`, () => {
      const loaded = loadedAtStart(REPO_ROOT, [entry]);
      expect(loaded.has('src/kube/request.ts') && loaded.has('undici'), 'the walk reaches the transport').to.equal(true);
      expect(loaded.has(CLIENT_NODE), `${entry} reaches ${CLIENT_NODE} through a static import`).to.equal(false);
    });
  }

  it(`src/ imports ${CLIENT_NODE} only on demand, in src/kube/kubeconfig.ts (credential plugins)`, () => {
    const edges = readImportGraph(REPO_ROOT, ['src']).filter((e) => e.target === CLIENT_NODE);
    expect(edges.map((e) => `${e.from} ${e.kind}`)).to.deep.equal(['src/kube/kubeconfig.ts dynamic']);
  });

  it('follows value imports and skips type-only ones', () => {
    const loaded = loadedAtStart(REPO_ROOT, ['src/kube/user-agent.ts']);
    expect([...loaded].sort()).to.deep.equal(['src/kube/transport.ts', 'src/kube/user-agent.ts', 'undici']);
  });
});
