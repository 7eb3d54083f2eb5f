// The real node's pure parts: flags, network guard, configuration files, the machine lock, the
// build script's prerequisite check and the image-layer reader.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodes } from '../../../dev/cli/cluster-command.ts';
import { tarEntryNames } from '../../../dev/image/inspect-image.ts';
import { umociConfigArgs } from '../../../dev/localcluster/node/oci-image.ts';
import { ClusterError, REPO_ROOT } from '../../../dev/localcluster/index.ts';
import { cniConfig, containerdConfig, kubeletConfig } from '../../../dev/localcluster/node/configs.ts';
import { nodePaths, nodeTools } from '../../../dev/localcluster/node/layout.ts';
import { acquireMachineLock, readHolder, releaseMachineLock } from '../../../dev/localcluster/node/machine-lock.ts';
import { guardRules, overlaps } from '../../../dev/localcluster/node/network.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';

describe('local cluster: the real node (pure parts)', () => {
  it('--nodes takes 0 or 1 and names the limit otherwise', () => {
    expect(parseNodes(undefined)).to.equal(0);
    expect(parseNodes('1')).to.equal(1);
    expect(() => parseNodes('2')).to.throw(UsageError, /0 or 1 real node \(one per machine\)/);
  });

  it('CIDR overlap: the pod and Service ranges against routes', () => {
    expect(overlaps('10.244.0.0/24', '10.244.0.0/16')).to.equal(true);
    expect(overlaps('10.0.0.0/8', '10.0.0.0/24')).to.equal(true);
    expect(overlaps('192.0.2.0/24', '10.0.0.0/24')).to.equal(false);
    expect(overlaps('fe80::/64', '10.0.0.0/24'), 'IPv6 never overlaps an IPv4 range').to.equal(false);
  });

  it('the guard rejects whatever the pod bridge would forward to another interface, and back', () => {
    const rules = guardRules();
    expect(rules).to.match(/hook forward/);
    expect(rules).to.match(/iifname "mdevnode0" oifname != "mdevnode0" .*reject/);
    expect(rules).to.match(/oifname "mdevnode0" iifname != "mdevnode0" .*drop/);
  });

  it('configuration files keep every root, socket and log under the node directory', () => {
    const p = nodePaths('/x/cluster');
    const t = nodeTools();
    const containerd = containerdConfig(p, t);
    expect(containerd).to.include('root = "/x/cluster/.realnode/containerd/root"').and.include('restrict_oom_score_adj = true').and.include('SystemdCgroup = false');
    const cni = JSON.parse(cniConfig(p)) as { plugins: { ipMasq?: boolean; bridge?: string }[] };
    expect(cni.plugins[0]).to.include({ ipMasq: false, bridge: 'mdevnode0' });
    const kubelet = kubeletConfig(p, { kubeletClientCert: 'c', kubeletClientKey: 'k', kubeletServingCert: 's.crt', kubeletServingKey: 's.key', apiserverKubeletClientCert: 'a', apiserverKubeletClientKey: 'b' }, '/ca.crt', { port: 1, healthz: 2 }, '/r');
    expect(kubelet).to.include('anonymous: {enabled: false}').and.include('mode: Webhook').and.include('tlsCertFile: s.crt').and.include('failCgroupV1: false');
    expect(kubelet).to.include('address: 10.244.0.1');
  });

  it('the machine lock refuses a second cluster while the holder runs, naming it, and takes over a stale one', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'lock-')), 'real-node.json');
    await acquireMachineLock('/a/.localcluster/one', () => true, async () => undefined, file);
    const err = await acquireMachineLock('/a/.localcluster/two', () => true, async () => undefined, file).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ClusterError);
    expect((err as Error).message).to.include('/a/.localcluster/one').and.include('npm run cluster:down -- --name one');
    const cleared: string[] = [];
    await acquireMachineLock('/a/.localcluster/two', () => false, async (h) => void cleared.push(h.cluster), file);
    expect(cleared).to.deep.equal(['/a/.localcluster/one']);
    expect(readHolder(file)?.cluster).to.equal('/a/.localcluster/two');
    releaseMachineLock('/a/.localcluster/two', file);
    expect(readHolder(file)).to.equal(undefined);
  });

  it('scripts/build-node.sh names a missing prerequisite in one line with the remedy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nogo-'));
    writeFileSync(join(dir, 'go'), '#!/bin/sh\nexit 127\n');
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile('bash', [join(REPO_ROOT, 'scripts', 'build-node.sh'), 'all'], { env: { ...process.env, PATH: '/usr/bin:/bin' } }, (e, _o, stderr) => resolve({ code: e ? 1 : 0, stderr: String(stderr) }));
    });
    expect(r.code).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.deep.equal(['[node] ERROR: Go is missing: install Go >= 1.26 (https://go.dev/dl/) and add it to PATH']);
  });

  it('image config: the Containerfile\'s user, entrypoint and env become umoci flags', () => {
    const args = umociConfigArgs({ entrypoint: ['node', 'dist/cli/main.js'], user: '65532:65532', workdir: '/app', env: ['NODE_ENV=production'] }).join(' ');
    expect(args).to.include('--config.entrypoint node --config.entrypoint dist/cli/main.js')
      .and.include('--config.user 65532:65532').and.include('--config.workingdir /app').and.include('--config.env NODE_ENV=production');
  });

  it('reads entry names from a tar stream, including PAX long names, without the end-of-archive blocks', () => {
    const header = (name: string, size: number, type: string) => {
      const h = Buffer.alloc(512);
      h.write(name, 0);
      h.write(size.toString(8).padStart(11, '0'), 124);
      h.write(type, 156);
      return h;
    };
    const long = `app/${'x'.repeat(120)}.js`;
    const record = ` path=${long}\n`;
    const pax = Buffer.from(`${record.length + 3}${record}`); // 3: the digits of the length itself
    const body = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
    const tar = Buffer.concat([header('usr/', 0, '5'), header('PaxHeader', pax.length, 'x'), body(pax), header('short', 3, '0'), body(Buffer.from('abc')), header('app/a.js', 0, '0')]);
    expect(tarEntryNames(tar)).to.deep.equal(['usr/', long, 'app/a.js']);
  });
});
