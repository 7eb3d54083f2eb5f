// `cluster:down -- --purge` removes what belongs to the cluster it names and nothing else: the
// default cluster lives in .localcluster/ itself, next to the named clusters' directories.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { purgeClusterFiles } from '../../../dev/localcluster/cluster.ts';
import type { ClusterPaths } from '../../../dev/localcluster/paths.ts';

function pathsUnder(root: string): ClusterPaths {
  return { root, pki: join(root, 'pki'), data: join(root, 'data'), logs: join(root, 'logs'), kubeconfig: join(root, 'kubeconfig'), state: join(root, 'state.json'), tokens: join(root, 'tokens.csv') };
}

async function populate(p: ClusterPaths): Promise<void> {
  for (const d of [p.pki, join(p.data, 'etcd'), p.logs, join(p.root, '.realnode', 'etc')]) await mkdir(d, { recursive: true });
  for (const f of [p.kubeconfig, p.state, p.tokens, join(p.root, 'audit-policy.yaml'), join(p.pki, 'ca.crt')]) await writeFile(f, 'x');
}

describe('local cluster purge', () => {
  let base: string;
  beforeEach(async () => (base = await mkdtemp(join(tmpdir(), 'purge-'))));
  afterEach(async () => rm(base, { recursive: true, force: true }));

  it('of the default cluster removes its own files in .localcluster/ and leaves the named clusters there alone', async () => {
    const def = pathsUnder(join(base, '.localcluster'));
    const named = pathsUnder(join(def.root, 'faultdev'));
    await populate(def);
    await populate(named);
    await purgeClusterFiles(def);
    for (const gone of [def.pki, def.data, def.logs, def.kubeconfig, def.state, def.tokens, join(def.root, 'audit-policy.yaml'), join(def.root, '.realnode')]) {
      expect(existsSync(gone), gone).to.equal(false);
    }
    for (const kept of [named.kubeconfig, named.state, join(named.data, 'etcd'), join(named.pki, 'ca.crt')]) expect(existsSync(kept), kept).to.equal(true);
  });

  it('of a named cluster removes its directory and nothing beside it', async () => {
    const def = pathsUnder(join(base, '.localcluster'));
    const a = pathsUnder(join(def.root, 'a'));
    const b = pathsUnder(join(def.root, 'b'));
    for (const p of [def, a, b]) await populate(p);
    await purgeClusterFiles(a);
    expect(existsSync(a.root)).to.equal(false);
    expect(existsSync(b.state)).to.equal(true);
    expect(existsSync(def.kubeconfig)).to.equal(true);
  });
});
