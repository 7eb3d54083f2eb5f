// The krew distribution of `kubectl mdev`: the committed manifest (krew/mdev.yaml) has the shape
// krew's validation demands (internal/index/validation in sigs.k8s.io/krew: name, shortDescription
// on one line, a v-prefixed semver, per platform an os/arch selector, uri, a sha256 and `bin`), and
// `npm run krew:package` (scripts/krew-package.ts) writes an archive whose sha256 is the manifest's
// and which holds `kubectl-mdev` at the path `bin` names. Then the real krew (built from the Go
// module proxy by scripts/build-control-plane.sh) installs it into a scratch KREW_ROOT and the real
// kubectl runs it.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { binDir, REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { packageKrewPlugin, PLATFORMS, PLUGIN_BIN, PLUGIN_NAME } from '../../../scripts/krew-package.ts';

const exec = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; homepage: string; engines: { node: string } };

interface Platform { selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string }[] }; uri?: string; sha256?: string; bin?: string }
interface Manifest { apiVersion?: string; kind?: string; metadata?: { name?: string }; spec?: { version?: string; homepage?: string; shortDescription?: string; description?: string; caveats?: string; platforms?: Platform[] } }

/** What krew would refuse, plus our own rules (name mdev, bin kubectl-mdev, the linux platforms). */
function manifestProblems(m: Manifest): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, problem: string): void => void (ok || problems.push(problem));
  check(m.apiVersion === 'krew.googlecontainertools.github.com/v1alpha2', `apiVersion ${m.apiVersion}`);
  check(m.kind === 'Plugin', `kind ${m.kind}`);
  check(m.metadata?.name === PLUGIN_NAME, `metadata.name ${m.metadata?.name}, not ${PLUGIN_NAME}`);
  const s = m.spec ?? {};
  check(!!s.shortDescription && !/[\r\n]/.test(s.shortDescription), 'spec.shortDescription missing or not one line');
  check(!!s.description?.includes('kubectl mdev'), 'spec.description does not say how to run the plugin');
  check(s.version === `v${pkg.version}` && /^v\d+\.\d+\.\d+$/.test(s.version), `spec.version ${s.version}, not v${pkg.version}`);
  check(s.homepage === pkg.homepage, `spec.homepage ${s.homepage}`);
  check(!!s.caveats?.includes(`Node.js >= ${pkg.engines.node.replace(/^>=\s*/, '')}`), `spec.caveats do not name the Node.js it needs (${pkg.engines.node})`);
  const platforms = s.platforms ?? [];
  for (const [i, p] of platforms.entries()) {
    const labels = p.selector?.matchLabels ?? {};
    const keys = [...Object.keys(labels), ...(p.selector?.matchExpressions ?? []).map((e) => e.key)];
    check(keys.length > 0 && keys.every((k) => k === 'os' || k === 'arch'), `platforms[${i}].selector must use os/arch only, has ${keys.join(',') || 'none'}`);
    check(!!p.uri && /^https:\/\/.+\.tar\.gz$/.test(p.uri), `platforms[${i}].uri ${p.uri}`);
    check(/^[a-f0-9]{64}$/.test(p.sha256 ?? ''), `platforms[${i}].sha256 ${p.sha256}`);
    check(p.bin === PLUGIN_BIN, `platforms[${i}].bin ${p.bin}, not ${PLUGIN_BIN}`);
  }
  const covered = platforms.map((p) => `${p.selector?.matchLabels?.os}/${p.selector?.matchLabels?.arch}`).sort();
  check(JSON.stringify(covered) === JSON.stringify(PLATFORMS.map((p) => `${p.os}/${p.arch}`).sort()), `platforms cover ${covered.join(', ')}`);
  return problems;
}

const readManifest = (path: string): Manifest => parseYaml(readFileSync(path, 'utf8')) as Manifest;

describe('krew manifest krew/mdev.yaml', () => {
  const committed = join(REPO_ROOT, 'krew', `${PLUGIN_NAME}.yaml`);

  it('is named for the plugin and has every field krew requires, bin kubectl-mdev, for linux/amd64 and linux/arm64', () => {
    expect(basename(committed), 'krew wants the file named after the plugin').to.equal('mdev.yaml');
    expect(manifestProblems(readManifest(committed))).to.deep.equal([]);
  });

  it('the check catches a broken manifest: a wrong bin, a bad sha256, an unsupported selector key, a missing platform', () => {
    const m = readManifest(committed);
    const [first] = m.spec!.platforms!;
    m.spec!.platforms = [{ ...first, bin: 'mdev', sha256: 'abc', selector: { matchLabels: { os: 'linux', distro: 'debian' } } }];
    const problems = manifestProblems(m);
    expect(problems).to.include('platforms[0].bin mdev, not kubectl-mdev');
    expect(problems).to.include('platforms[0].sha256 abc');
    expect(problems).to.include('platforms[0].selector must use os/arch only, has os,distro');
    expect(problems.some((p) => p.startsWith('platforms cover'))).to.equal(true);
  });
});

describe('npm run krew:package (scripts/krew-package.ts) and the real krew', function () {
  this.timeout(600_000);
  let dir: string;
  let archive: string;
  let manifest: Manifest;
  let entries: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krew-package-'));
    const r = await packageKrewPlugin(join(dir, 'out'), join(dir, 'mdev.yaml'));
    archive = r.archive;
    manifest = readManifest(r.manifest);
    entries = (await exec('tar', ['-tvzf', archive], { maxBuffer: 64 * 1024 * 1024 })).stdout.trim().split('\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const path = (line: string): string => line.split(/\s+/).slice(5).join(' ');

  it('writes a valid manifest whose every platform points at the archive with its sha256', () => {
    expect(manifestProblems(manifest)).to.deep.equal([]);
    const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
    for (const p of manifest.spec!.platforms!) {
      expect(p.sha256).to.equal(sha256);
      expect(basename(p.uri!)).to.equal(basename(archive));
    }
  });

  it('packs kubectl-mdev, executable, at the path bin names, with the compiled plugin and its production dependencies', () => {
    const bin = manifest.spec!.platforms![0]!.bin!;
    const launcher = entries.find((l) => path(l) === bin);
    expect(launcher, `${bin} in the archive`).to.not.equal(undefined);
    expect(launcher!).to.match(/^-rwxr-xr-x /);
    const paths = entries.map(path);
    for (const f of ['LICENSE', 'package.json', 'dist/cli/kubectl-plugin.js', 'dist/cli/explain-command.js', 'node_modules/yaml/package.json', 'node_modules/zod/package.json']) expect(paths).to.include(f);
    expect(paths.filter((p) => /^(src|dev|test|bench|scripts)\//.test(p) || p.startsWith('node_modules/typescript/') || p.startsWith('node_modules/mocha/'))).to.deep.equal([]);
  });

  it('holds no symbolic link (krew cannot unpack one) and no native addon (one archive serves amd64 and arm64)', () => {
    expect(entries.filter((l) => !/^[-d]/.test(l)).map(path)).to.deep.equal([]);
    expect(entries.map(path).filter((p) => p.endsWith('.node'))).to.deep.equal([]);
  });

  it('krew installs it from the manifest and the archive; kubectl then runs `kubectl mdev` with --help and --context', async () => {
    const krew = join(binDir(), 'krew');
    expect(existsSync(krew), `${krew} is missing: run \`bash scripts/build-control-plane.sh krew\` (npm run cluster:build builds it too)`).to.equal(true);
    const krewRoot = join(dir, 'krew-root');
    const manifestPath = join(dir, 'mdev.yaml');
    // --manifest skips the plugin index; KREW_NO_UPGRADE_CHECK stops krew asking GitHub for a newer
    // release (it does on 40 % of runs of a tagged build): the test sends nothing off the machine.
    await exec(krew, ['install', `--manifest=${manifestPath}`, `--archive=${archive}`], { env: { ...process.env, KREW_ROOT: krewRoot, KREW_NO_UPGRADE_CHECK: '1' } });
    const env = { ...process.env, PATH: [join(krewRoot, 'bin'), dirname(process.execPath), process.env.PATH].join(delimiter) };
    const help = await exec('kubectl', ['mdev', 'explain', '--help'], { env });
    expect(help.stdout).to.match(/^Usage: kubectl mdev explain <namespace>\/<vmi>/);
    expect(help.stdout).to.contain('--context NAME');
    // A real run up to the kubeconfig: the installed runtime loads the plugin, yaml and the loader.
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'dev', clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }], users: [{ name: 'u', user: {} }], contexts: [{ name: 'dev', context: { cluster: 'c', user: 'u' } }] }));
    const refused = await exec('kubectl', ['mdev', 'explain', 'ns/vm', '--kubeconfig', kubeconfig, '--context', 'prod'], { env }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain('no context named "prod"');
    expect(refused.stderr).to.contain('available contexts: dev');
  });
});
