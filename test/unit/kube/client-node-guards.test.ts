// Guards for what we still rely on in @kubernetes/client-node (ADR 0007, ADR 0018): the product
// hands kubeconfigs with a credential plugin to its KubeConfig (loadFromOptions, then
// applyToHTTPSOptions); src/kube/transport.ts copies its createDispatcherOptions mapping; the tests'
// generated clients (test/support/api-client.ts) send with a RequestContext's dispatcher. If an
// upgrade renames or reshapes one of these, this fails by name. The version is pinned exactly; an
// upgrade must pass here and the parity tests of test/unit/kube/kubeconfig.test.ts.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { RequestOptions } from 'node:https';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const requireHere = createRequire(import.meta.url);
const clientNodeDir = join(REPO_ROOT, 'node_modules/@kubernetes/client-node');
const installed = (dir: string): string => (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
const undiciDir = (from: string): string => {
  const main = createRequire(from).resolve('undici');
  return main.slice(0, main.lastIndexOf('node_modules/undici/') + 'node_modules/undici'.length);
};

function configWith(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from('ca-pem').toString('base64'), ...cluster }],
    users: [{ name: 'u', ...user }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

describe('client-node guards (credential plugins, the dispatcher mapping we copy, the tests\' generated clients)', () => {
  it('client-node and undici are pinned to exact versions, and those are installed', () => {
    expect(pkg.dependencies['@kubernetes/client-node']).to.match(/^\d+\.\d+\.\d+$/);
    expect(pkg.dependencies.undici).to.match(/^\d+\.\d+\.\d+$/);
    expect(installed(clientNodeDir)).to.equal(pkg.dependencies['@kubernetes/client-node']);
    expect(installed(undiciDir(import.meta.url))).to.equal(pkg.dependencies.undici);
  });

  it('our undici is the copy client-node sends with (the tests\' generated clients get our dispatcher)', () => {
    expect(undiciDir(join(clientNodeDir, 'package.json'))).to.equal(undiciDir(import.meta.url));
    expect(requireHere.resolve('undici')).to.equal(createRequire(join(clientNodeDir, 'package.json')).resolve('undici'));
  });

  it('KubeConfig.loadFromOptions + applyToHTTPSOptions yield the TLS material and auth headers (credential plugins go this way)', async () => {
    const token: RequestOptions = {};
    await configWith({ token: 'tok', certData: Buffer.from('cert').toString('base64'), keyData: Buffer.from('key').toString('base64') }).applyToHTTPSOptions(token);
    expect(String(token.ca)).to.equal('ca-pem');
    expect(String(token.cert)).to.equal('cert');
    expect(String(token.key)).to.equal('key');
    expect(token.headers).to.deep.include({ Authorization: 'Bearer tok' });
    const basic: RequestOptions = {};
    await configWith({ username: 'ann', password: 'pw' }, { skipTLSVerify: true, tlsServerName: 'api.internal' }).applyToHTTPSOptions(basic);
    expect(basic).to.include({ auth: 'ann:pw', rejectUnauthorized: false, servername: 'api.internal' });
  });

  it('KubeConfig.createDispatcherOptions still maps TLS material as transport.ts does (keep-alive after 30 s, proxies through a ProxyAgent)', () => {
    const kc = configWith({ token: 't' });
    const ca = Buffer.from('ca');
    expect(kc.createDispatcherOptions(kc.getCurrentCluster(), { ca })).to.deep.equal({ type: 'agent', connect: { ca, keepAlive: true, keepAliveInitialDelay: 30_000 } });
    expect(kc.createDispatcherOptions(kc.getCurrentCluster(), {})).to.deep.equal({ type: 'none' });
    const proxied = configWith({ token: 't' }, { proxyUrl: 'http://proxy:3128' });
    expect(proxied.createDispatcherOptions(proxied.getCurrentCluster(), { ca })).to.include({ type: 'proxy', uri: 'http://proxy:3128' });
  });

  it('RequestContext carries a dispatcher (the tests\' generated clients send with it)', () => {
    const ctx = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
    const dispatcher = { dispatch: () => true } as unknown as Parameters<RequestContext['setDispatcher']>[0];
    ctx.setDispatcher(dispatcher);
    expect(ctx.getDispatcher()).to.equal(dispatcher);
  });
});
