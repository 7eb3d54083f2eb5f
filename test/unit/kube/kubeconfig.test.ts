// Our kubeconfig reader (src/kube/kubeconfig.ts, ADR 0018) against client-node's KubeConfig, the
// reader it replaces on the product's path: for the same file, the same TLS material, headers and
// basic auth; kubectl's merge of a KUBECONFIG list; errors that name the file and the entry; the
// service account (IPv6 host, token re-read after a minute on a fake clock); and a credential
// plugin, which is handed to client-node itself.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig as ClientNodeKubeConfig } from '@kubernetes/client-node';
import { inClusterKubeConfig, readKubeConfigFiles } from '../../../src/kube/kubeconfig.ts';
import { FakeClock } from './fakes.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function fileIn(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx',
    clusters: [{ name: 'c', cluster: { server: 'https://api.example:6443/', ...cluster } }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'ns' } }],
  });
}

/** The fields a request is built from, Buffers as text. */
function sent(o: RequestOptions): Record<string, unknown> {
  const text = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
  const headers = Object.fromEntries(Object.entries(o.headers ?? {}).filter(([, v]) => v !== undefined));
  return { ca: text(o.ca), cert: text(o.cert), key: text(o.key), rejectUnauthorized: o.rejectUnauthorized, servername: o.servername, auth: o.auth, headers };
}

async function bothReaders(path: string): Promise<{ ours: Record<string, unknown>; clientNode: Record<string, unknown> }> {
  const ours: RequestOptions = {};
  await readKubeConfigFiles([path]).applyToHTTPSOptions(ours);
  const reference = new ClientNodeKubeConfig();
  reference.loadFromFile(path);
  const theirs: RequestOptions = {};
  await reference.applyToHTTPSOptions(theirs);
  return { ours: sent(ours), clientNode: sent(theirs) };
}

describe('kubeconfig reader (ours, against client-node on the same files)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
  fileIn(dir, 'ca.crt', 'ca-from-file');
  fileIn(dir, 'client.crt', 'cert-from-file');
  fileIn(dir, 'client.key', 'key-from-file');

  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ['client certificate and CA as data', { 'certificate-authority-data': b64('ca-pem') }, { 'client-certificate-data': b64('cert-pem'), 'client-key-data': b64('key-pem') }],
    ['client certificate and CA as files relative to the kubeconfig', { 'certificate-authority': 'ca.crt' }, { 'client-certificate': 'client.crt', 'client-key': 'client.key' }],
    ['a bearer token, skip-verify and a TLS server name', { 'insecure-skip-tls-verify': true, 'tls-server-name': 'api.internal' }, { token: 'tok' }],
    ['basic auth and impersonation', { 'certificate-authority-data': b64('ca-pem') }, { username: 'ann', password: 'pw', as: 'bob' }],
  ];
  for (const [what, cluster, user] of cases) {
    it(`sends what client-node sends: ${what}`, async () => {
      const { ours, clientNode } = await bothReaders(fileIn(dir, `${what.replace(/\W+/g, '-')}.yaml`, kubeconfig(cluster, user)));
      expect(ours).to.deep.equal(clientNode);
      expect(Object.values(ours).filter((v) => v !== undefined).length, 'the case sets something').to.be.greaterThan(1);
    });
  }

  it('reads the server, context and namespace as client-node does (trailing slash dropped)', () => {
    const path = fileIn(dir, 'plain.yaml', kubeconfig({}, { token: 't' }));
    const kc = readKubeConfigFiles([path]);
    const reference = new ClientNodeKubeConfig();
    reference.loadFromFile(path);
    expect(kc.getCurrentCluster()).to.deep.include({ name: 'c', server: 'https://api.example:6443', skipTLSVerify: false });
    expect(kc.getCurrentCluster()?.server).to.equal(reference.getCurrentCluster()?.server);
    expect(kc.getCurrentContextObject()?.namespace).to.equal('ns');
  });

  it('merges a KUBECONFIG list as kubectl does: the first file wins each name and the current context', () => {
    const a = fileIn(dir, 'a.yaml', kubeconfig({ server: 'https://a.example' }, { token: 'a' }));
    const b = fileIn(dir, 'b.yaml', JSON.stringify({
      'current-context': 'other',
      clusters: [{ name: 'c', cluster: { server: 'https://shadowed.example' } }, { name: 'd', cluster: { server: 'https://d.example' } }],
      contexts: [{ name: 'other', context: { cluster: 'd' } }],
    }));
    const kc = readKubeConfigFiles([a, b]);
    expect(kc.getCurrentCluster()?.server).to.equal('https://a.example');
    expect(kc.clusters.map((c) => c.server)).to.deep.equal(['https://a.example', 'https://d.example']);
    expect(kc.getContexts().map((c) => c.name)).to.deep.equal(['ctx', 'other']);
  });

  it('names the file and the entry when a kubeconfig cannot be used', () => {
    const noServer = fileIn(dir, 'no-server.yaml', JSON.stringify({ clusters: [{ name: 'c', cluster: {} }] }));
    expect(() => readKubeConfigFiles([noServer])).to.throw(`${noServer}: clusters[0].cluster.server is missing (cluster c)`);
    const noCluster = fileIn(dir, 'no-cluster.yaml', JSON.stringify({ contexts: [{ name: 'x', context: { user: 'u' } }] }));
    expect(() => readKubeConfigFiles([noCluster])).to.throw(`${noCluster}: contexts[0].context.cluster is missing (context x)`);
    const notYaml = fileIn(dir, 'not-yaml.yaml', 'clusters: [unclosed');
    expect(() => readKubeConfigFiles([notYaml])).to.throw(`${notYaml} is not valid YAML`);
    const scalar = fileIn(dir, 'scalar.yaml', 'just text');
    expect(() => readKubeConfigFiles([scalar])).to.throw(`${scalar} is not a kubeconfig`);
  });

  it('reads the service account: an IPv6 host in brackets, its CA, its namespace, and its token again after a minute', async () => {
    const sa = mkdtempSync(join(tmpdir(), 'serviceaccount-'));
    fileIn(sa, 'ca.crt', 'sa-ca');
    fileIn(sa, 'namespace', 'mdev-operator-system\n');
    fileIn(sa, 'token', 'first\n');
    const clock = new FakeClock(0);
    const kc = inClusterKubeConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa, clock);
    expect(kc.getCurrentCluster()?.server).to.equal('https://[fd00::1]:443');
    expect(kc.getCurrentContextObject()?.namespace).to.equal('mdev-operator-system');
    const auth = async (): Promise<Record<string, unknown>> => {
      const o: RequestOptions = {};
      await kc.applyToHTTPSOptions(o);
      return sent(o);
    };
    expect(await auth()).to.deep.include({ ca: 'sa-ca', headers: { Authorization: 'Bearer first' } });
    fileIn(sa, 'token', 'rotated\n');
    await clock.advance(59_000);
    expect((await auth()).headers, 'cached within the minute').to.deep.equal({ Authorization: 'Bearer first' });
    await clock.advance(1_000);
    expect((await auth()).headers, 're-read after it').to.deep.equal({ Authorization: 'Bearer rotated' });
  });

  it('hands a credential plugin (exec) to client-node', async () => {
    const plugin = fileIn(dir, 'exec-plugin.mjs', `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-plugin' } }));`);
    const path = fileIn(dir, 'exec.yaml', kubeconfig({ 'certificate-authority-data': b64('ca-pem') }, {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [plugin], interactiveMode: 'Never' },
    }));
    const o: RequestOptions = {};
    await readKubeConfigFiles([path]).applyToHTTPSOptions(o);
    expect(sent(o)).to.deep.include({ ca: 'ca-pem', headers: { Authorization: 'Bearer from-plugin' } });
  });
});
