// Last e2e file: `cluster:down` stops every process of the real node and undoes every host change
// (compared with the snapshot the fixture took before `up`), and a failed `up` leaves nothing.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { down, REPO_ROOT } from '../../dev/localcluster/index.ts';
import { hostSnapshot, type HostSnapshot } from '../../dev/localcluster/node/host-snapshot.ts';
import { BRIDGE } from '../../dev/localcluster/node/layout.ts';
import { BEFORE_SNAPSHOT, E2E_CLUSTER } from './support/fixture.ts';

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(REPO_ROOT, 'dev', 'cli.ts'), ...args], { env: { ...process.env, ...env }, timeout: 600_000 }, (err, _out, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr) });
    });
  });
}

describe('real node teardown', function () {
  this.timeout(600_000);
  const before = JSON.parse(readFileSync(BEFORE_SNAPSHOT, 'utf8')) as HostSnapshot;

  it('cluster:down stops every node process and undoes every host change', async () => {
    const during = await hostSnapshot();
    // The snapshot sees the node while it runs (otherwise comparing would prove nothing).
    expect(during.links).to.include(BRIDGE);
    expect(during.nftTables).to.include.members(['table inet mdev-localnode', 'table ip kube-proxy']);
    expect(during.processes.length).to.be.greaterThan(3);
    expect(during.machineLock).to.equal(true);
    await down({ name: E2E_CLUSTER, purge: true });
    expect(await hostSnapshot()).to.deep.equal(before);
  });

  it('a cluster:up whose kubelet misses its deadline fails with the end of the kubelet log and leaves nothing behind', async () => {
    const name = `e2e-fail-${process.pid}`;
    const r = await cli(['cluster', 'up', '--name', name, '--nodes', '1'], { MDEV_KUBELET_READY_MS: '1' });
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.match(/node local-node-1 Ready did not happen within 0\.001s; the end of kubelet's log:/);
    expect(r.stderr).to.include('kubelet.log');
    expect(await hostSnapshot()).to.deep.equal(before);
    await down({ name, purge: true });
    rmSync(BEFORE_SNAPSHOT, { force: true });
  });
});
