// How the local control plane fails (issue #2): each failure ends within a deadline (the mocha
// timeout of each test) with a message that names the cause and the fix, and leaves no process of
// the failed attempt behind — checked by pid (`status()`) and by scanning /proc for any process
// whose command line points into the cluster's directory. Each test uses its own cluster name.
import { expect } from 'chai';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binDir, ClusterError, clusterPaths, down, REPO_ROOT, status, up } from '../../../dev/localcluster/index.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../../src/kube/request.ts';
import { uniqueName } from '../../support/cluster.ts';
import { waitFor } from '../kube/wait.ts';

const BUILD_SCRIPT = join(REPO_ROOT, 'scripts/build-control-plane.sh');

/** Every process whose command line mentions the cluster's directory (its data, pki or kubeconfig). */
function processesOf(name: string): number[] {
  const root = `${clusterPaths(name).root}/`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(root)) pids.push(Number(entry));
    } catch {
      /* exited while we looked */
    }
  }
  return pids;
}

async function expectNothingRunning(name: string): Promise<void> {
  const s = await status({ name });
  expect(s.running, 'status() still reports a running component').to.equal(false);
  expect(s.ready).to.equal(false);
  expect(processesOf(name), `processes of cluster ${name} are left behind`).to.deep.equal([]);
}

async function upFails(opts: Parameters<typeof up>[0]): Promise<ClusterError> {
  try {
    await up(opts);
  } catch (err) {
    if (err instanceof ClusterError) return err;
    throw err;
  }
  throw new Error(`up(${JSON.stringify(opts)}) was expected to fail but started a cluster`);
}

function deadPid(): number {
  const child = spawnSync('true');
  return child.pid ?? 999_999;
}

/** Runs a command to completion; never throws on a non-zero exit (tests assert on it). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd: REPO_ROOT, timeout: 60_000 }, (err, _stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stderr: String(stderr) });
    });
  });
}

/** A PATH with bash and the coreutils the build script uses, and no `go`. */
async function pathWithoutGo(dir: string): Promise<string> {
  const bin = join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  for (const tool of ['bash', 'env', 'cat', 'sed', 'cut', 'mkdir', 'awk', 'sort', 'printf']) {
    const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (found.startsWith('/')) await symlink(found, join(bin, tool));
  }
  return bin;
}

describe('local control plane: failure behaviour', function () {
  const names: string[] = [];
  const temps: string[] = [];
  const quiet: string[] = [];
  const log = (l: string) => quiet.push(l);
  const fresh = () => {
    const name = uniqueName('lcfail');
    names.push(name);
    return name;
  };
  const temp = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lcfail-'));
    temps.push(dir);
    return dir;
  };

  after(async function () {
    this.timeout(120_000);
    for (const name of names) await down({ name, purge: true });
    for (const dir of temps) {
      // Go's module cache is read-only; make it removable.
      await run('chmod', ['-R', 'u+w', dir], process.env);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a port in use: fails before starting anything, naming the port and the fix', async function () {
    this.timeout(15_000);
    const name = fresh();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    try {
      const err = await upFails({ name, apiserverPort: port, log });
      expect(err.message).to.contain(`127.0.0.1:${port}`).and.to.contain('already in use');
      expect(err.remedy).to.match(/stop that process/).and.to.contain('leave the port unset');
      await expectNothingRunning(name);
    } finally {
      holder.close();
    }
  });

  it('a stale data dir (state.json with dead pids, junk data): up clears it and starts fresh', async function () {
    this.timeout(120_000);
    const name = fresh();
    const p = clusterPaths(name);
    const dead = deadPid();
    await mkdir(join(p.data, 'etcd', 'member', 'snap'), { recursive: true });
    await writeFile(join(p.data, 'etcd', 'member', 'snap', 'db'), 'left over from a machine that crashed');
    await writeFile(p.state, JSON.stringify({
      pids: { etcd: dead, 'kube-apiserver': dead, 'kube-controller-manager': dead },
      ports: { etcdClient: 1, etcdPeer: 2, apiserver: 3 }, binDir: binDir(), startedAt: '2020-01-01T00:00:00Z',
    }));
    quiet.length = 0;
    const cluster = await up({ name, log });
    expect(quiet.join('\n')).to.match(/cannot be restarted in place \(its data or kubeconfig is gone; running: none\); stopping it and starting fresh/);
    const s = await status({ name });
    expect(s.ready).to.equal(true);
    expect(s.components.every((c) => c.alive && c.pid !== dead)).to.equal(true);
    expect(cluster.server).to.not.equal('https://127.0.0.1:3');
    await down({ name, purge: true });
    await expectNothingRunning(name);
  });

  it('a corrupt data dir: etcd fails, the error says to purge; after down --purge, up works', async function () {
    this.timeout(180_000);
    const name = fresh();
    const p = clusterPaths(name);
    await mkdir(join(p.data, 'etcd', 'member', 'snap'), { recursive: true });
    await writeFile(join(p.data, 'etcd', 'member', 'snap', 'db'), Buffer.alloc(64 * 1024, 0xa5));
    const err = await upFails({ name, log });
    expect(err.message).to.match(/^etcd exited during start-up/).and.to.contain('invalid database');
    expect(err.remedy).to.contain('stale or corrupt').and.to.contain(`npm run cluster:down -- --name ${name} --purge`)
      .and.to.contain(`npm run cluster:up -- --name ${name}`);
    expect(existsSync(p.state), 'state.json of the failed attempt').to.equal(false);
    await expectNothingRunning(name);

    await down({ name, purge: true });
    await up({ name, log });
    expect((await status({ name })).ready).to.equal(true);
    await down({ name, purge: true });
    await expectNothingRunning(name);
  });

  for (const component of ['etcd', 'kube-apiserver'] as const) {
    it(`a crashed ${component}: status() reports it stopped and not ready; up starts it again in place (same port, same data), the others untouched`, async function () {
      this.timeout(180_000);
      const name = fresh();
      const cluster = await up({ name, log });
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfig);
      const ns = `keep-${component}`;
      await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
      const before = (await status({ name })).components;
      const pidOf = (list: typeof before, c: string) => list.find((x) => x.name === c)?.pid;
      process.kill(pidOf(before, component) ?? 0, 'SIGKILL');

      await waitFor('status() to notice the crash', async () => !(await status({ name })).ready, 30_000);
      const crashed = await status({ name });
      expect(crashed.components.find((c) => c.name === component)?.alive).to.equal(false);

      quiet.length = 0;
      const again = await up({ name, log });
      expect(quiet.join('\n')).to.contain(`${component} of the cluster in ${clusterPaths(name).root} is not running; starting it again in place (same data and ports)`);
      expect(again.server, 'the same port: the kubeconfig still works').to.equal(cluster.server);
      const after = await status({ name });
      expect(after.ready).to.equal(true);
      expect(after.components.every((c) => c.alive)).to.equal(true);
      for (const c of before.map((x) => x.name)) {
        if (c === component) expect(pidOf(after.components, c), `${c} is a new process`).to.not.equal(pidOf(before, c));
        else expect(pidOf(after.components, c), `${c} was left running`).to.equal(pidOf(before, c));
      }
      expect(processesOf(name).sort()).to.deep.equal(after.components.map((c) => c.pid).sort());
      const kept = (await kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${ns}` })) as { metadata: { name: string } };
      expect(kept.metadata.name, 'etcd kept its data').to.equal(ns);
      await down({ name, purge: true });
      await expectNothingRunning(name);
    });
  }

  it('an interrupted up (the command killed mid-start): down still stops everything it started', async function () {
    this.timeout(120_000);
    const name = fresh();
    const p = clusterPaths(name);
    const cli = spawn(process.execPath, [join(REPO_ROOT, 'dev/cli.ts'), 'cluster', 'up', '--name', name], { stdio: 'ignore' });
    const recorded = async () => JSON.parse(await readFile(p.state, 'utf8').catch(() => '{}')) as { pids?: Record<string, number> };
    // kube-apiserver is recorded as soon as it is spawned, long before it is ready.
    await waitFor('kube-apiserver to be spawned', async () => (await recorded()).pids?.['kube-apiserver'] !== undefined, 60_000);
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('exit', r));
    expect(processesOf(name).length, 'the interrupted up left etcd and kube-apiserver running').to.be.at.least(2);

    const stopped = await down({ name });
    expect(stopped.join(' ')).to.contain('etcd').and.to.contain('kube-apiserver');
    await expectNothingRunning(name);
  });

  it('a missing Go toolchain: the build exits non-zero, naming Go and how to install it', async function () {
    this.timeout(30_000);
    const dir = await temp();
    const path = await pathWithoutGo(dir);
    const r = await run(join(path, 'bash'), [BUILD_SCRIPT, 'all'], { HOME: dir, PATH: path, MDEV_CACHE_DIR: join(dir, 'cache') });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.contain("the Go toolchain ('go') is not on PATH").and.to.contain('Go >= 1.26').and.to.contain('https://go.dev/dl/');

    // `npm run cluster:up` on such a machine says the same through its ClusterError, and starts nothing.
    const name = fresh();
    const viaCli = await run(process.execPath, [join(REPO_ROOT, 'dev/cli.ts'), 'cluster', 'up', '--name', name],
      { HOME: dir, PATH: path, MDEV_CACHE_DIR: join(dir, 'cache') });
    expect(viaCli.code).to.equal(1);
    expect(viaCli.stderr).to.match(/\[cluster\] ERROR: building the control plane failed: the Go toolchain \('go'\) is not on PATH.*Fix: /);
    await expectNothingRunning(name);
  });

  it('a failed module download: the build exits non-zero at once, naming the module proxy', async function () {
    this.timeout(30_000);
    const dir = await temp();
    const env = {
      ...process.env, GOPROXY: 'off', GOFLAGS: '-mod=mod', MDEV_CACHE_DIR: join(dir, 'cache'),
      // An empty module cache too, or Go would serve the modules an earlier build downloaded.
      GOMODCACHE: join(dir, 'gomodcache'),
    };
    const r = await run('bash', [BUILD_SCRIPT, 'all'], env);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/ERROR: could not download \S+ from the Go module proxy \(GOPROXY=off\)/).and.to.contain('check the network and GOPROXY');
  });
});
