// `mdev-operator cluster …` output and exit codes when no cluster runs, and the pieces of the local
// control plane's error messages (the log summary, the commands a remedy names). No cluster is started.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { npmClusterCommand } from '../../../dev/localcluster/cluster.ts';
import { clusterPaths, REPO_ROOT } from '../../../dev/localcluster/index.ts';
import { logSummary } from '../../../dev/localcluster/processes.ts';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(REPO_ROOT, 'dev/cli.ts'), 'cluster', ...args], { cwd: REPO_ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('cluster command (nothing running)', function () {
  this.timeout(30_000);
  const name = `lcunit-${process.pid}-${Date.now()}`;

  after(async () => {
    await rm(clusterPaths(name).root, { recursive: true, force: true });
  });

  it('status lists every component as stopped and exits 1', async () => {
    const r = await cli(['status', '--name', name]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/^etcd\s+stopped$/m).and.to.match(/^kube-apiserver\s+stopped$/m).and.to.match(/^kube-controller-manager\s+stopped$/m);
    expect(r.stdout).to.contain('apiserver not ready').and.not.contain('export KUBECONFIG');
  });

  it('down says nothing was running and exits 0', async () => {
    const r = await cli(['down', '--name', name]);
    expect(r.code).to.equal(0);
    expect(r.stderr).to.contain('[cluster] nothing was running');
  });

  it('an unknown action is a usage error (exit 2) that lists the actions', async () => {
    const r = await cli(['restart']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain("unknown cluster action 'restart': use up, down or status");
  });
});

describe('local cluster error messages', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lcunit-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the commands a remedy names carry the cluster name unless it is the default one', () => {
    expect(npmClusterCommand(clusterPaths(), 'down', '--purge')).to.equal('npm run cluster:down -- --purge');
    expect(npmClusterCommand(clusterPaths(), 'up')).to.equal('npm run cluster:up');
    expect(npmClusterCommand(clusterPaths('lcfail-1'), 'down', '--purge')).to.equal('npm run cluster:down -- --name lcfail-1 --purge');
    expect(npmClusterCommand(clusterPaths('lcfail-1'), 'up')).to.equal('npm run cluster:up -- --name lcfail-1');
  });

  it("the log summary keeps etcd's error and panic lines, not the goroutine dump after them", async () => {
    const log = join(dir, 'etcd.log');
    await writeFile(log, [
      '{"level":"warn","msg":"check file permission"}',
      '{"level":"panic","msg":"failed to open database","path":"/d/member/snap/db","error":"invalid database"}',
      'panic: failed to open database',
      '',
      'goroutine 118 [running]:',
      'go.uber.org/zap/zapcore.CheckWriteAction.OnWrite(0x2?)',
    ].join('\n'));
    const summary = logSummary(log);
    expect(summary).to.contain('panic: failed to open database (/d/member/snap/db): invalid database');
    expect(summary).to.contain(`(full log: ${log})`);
    expect(summary).to.not.contain('goroutine').and.not.contain('check file permission');
  });

  it("the log summary keeps klog's E and F lines of the Kubernetes binaries", async () => {
    const log = join(dir, 'kube-apiserver.log');
    await writeFile(log, 'I1130 02:00:00.000 1 server.go:1] starting\nE1130 02:00:01.000 1 run.go:72] "command failed" err="listen tcp 127.0.0.1:6443: bind: address already in use"\n');
    expect(logSummary(log)).to.contain('address already in use').and.not.contain('starting');
  });

  it('the log summary falls back to the tail when nothing looks like an error', async () => {
    const log = join(dir, 'quiet.log');
    await writeFile(log, Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n'));
    const summary = logSummary(log);
    expect(summary).to.contain('line 29').and.to.contain('line 15').and.not.match(/line 14$/m);
    expect(logSummary(join(dir, 'missing.log'))).to.equal('(no log)');
  });
});
