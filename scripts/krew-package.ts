// Packages the kubectl plugin for krew: compiles src/ into a staging directory, installs the
// production dependencies beside it (npm ci --omit=dev, from the lockfile), adds the `kubectl-mdev`
// launcher, packs them into one tar.gz and writes the krew manifest with that archive's sha256.
//
//   node scripts/krew-package.ts [--out DIR] [--manifest FILE]     (npm run krew:package)
//
// Defaults: the archive goes to dist/krew/, the manifest to krew/mdev.yaml (committed at each
// release). The archive holds JavaScript only (no native addon, no symbolic link: krew cannot unpack
// one; the krew test checks both), so the
// linux/amd64 and linux/arm64 entries share it. Node.js is not bundled: the user's `node` (>= the
// package's engines) runs it, which the manifest's caveats say. Needs GNU tar and gzip.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { REPO_ROOT } from '../dev/localcluster/paths.ts';

const exec = promisify(execFile);

/** The krew plugin name: kubectl runs `kubectl-mdev` as `kubectl mdev`. */
export const PLUGIN_NAME = 'mdev';
/** The executable at the archive's root, which the manifest's `bin` names. */
export const PLUGIN_BIN = 'kubectl-mdev';
export const PLATFORMS = [{ os: 'linux', arch: 'amd64' }, { os: 'linux', arch: 'arm64' }] as const;

interface PackageJson {
  version: string;
  homepage: string;
  engines: { node: string };
}

const pkg = (): PackageJson => JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

export const archiveName = (version: string): string => `kubectl-mdev-v${version}-linux.tar.gz`;

/** Where a release publishes the archive (the GitHub release of the tag v<version>). */
export const archiveUri = (p: PackageJson): string => `${p.homepage}/releases/download/v${p.version}/${archiveName(p.version)}`;

/**
 * The launcher krew links as `kubectl-mdev`. Plain enough to run as CommonJS or ESM, so an older
 * Node.js reaches the version check and says what is needed instead of failing on syntax. Node
 * resolves the symlink krew makes, so `./dist` is found beside the real file.
 */
function launcher(minNode: string): string {
  const [major, minor] = minNode.split('.').map(Number) as [number, number];
  return `#!/usr/bin/env node
// kubectl mdev as krew installs it: runs the compiled plugin beside this file on the node found on PATH.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < ${major} || (major === ${major} && minor < ${minor})) {
  process.stderr.write('kubectl mdev needs Node.js >= ${minNode} on PATH; found ' + process.version + ' at ' + process.execPath + '\\n');
  process.exit(1);
}
import('./dist/cli/kubectl-plugin.js');
`;
}

export function krewManifest(p: PackageJson, sha256: string): string {
  const minNode = p.engines.node.replace(/^>=\s*/, '');
  const manifest = {
    apiVersion: 'krew.googlecontainertools.github.com/v1alpha2',
    kind: 'Plugin',
    metadata: { name: PLUGIN_NAME },
    spec: {
      version: `v${p.version}`,
      homepage: p.homepage,
      shortDescription: 'Check migration targets of KubeVirt VMs with vGPUs/mdevs',
      description: [
        'Read-only tools of mdev-operator, which makes live migration of KubeVirt VMs with mediated',
        'devices (vGPUs, vfio mdev, vendor VFIO) safe. `kubectl mdev plan-drain <node>` shows, before',
        'a drain, the target every VMI with mediated devices on the node would get, or why it has none;',
        '`kubectl mdev explain <namespace>/<vmi>` shows every node\'s verdict for one VMI. Both take',
        '--kubeconfig and --context like kubectl. Needs mdev-operator installed in the cluster.',
        '',
      ].join('\n'),
      caveats: [
        `This plugin is JavaScript: it runs on the Node.js >= ${minNode} found on PATH (not bundled).`,
        'Check with `node --version`; install Node.js from https://nodejs.org or your distribution.',
        '',
      ].join('\n'),
      platforms: PLATFORMS.map(({ os, arch }) => ({ selector: { matchLabels: { os, arch } }, uri: archiveUri(p), sha256, bin: PLUGIN_BIN })),
    },
  };
  return `# Written by scripts/krew-package.ts (npm run krew:package) with the sha256 of the archive it packs.\n${toYaml(manifest, { lineWidth: 0 })}`;
}

/**
 * krew's unpacker refuses symbolic links in a tar ("unable to handle file type 50"): npm's
 * node_modules/.bin links are only for npm scripts, so they go; any other link is an error here
 * rather than a failed `kubectl krew install`.
 */
function dropSymlinks(nodeModules: string): void {
  const entries = readdirSync(nodeModules, { recursive: true, withFileTypes: true });
  for (const e of entries) if (e.name === '.bin' && e.isDirectory()) rmSync(join(e.parentPath, e.name), { recursive: true, force: true });
  const links = readdirSync(nodeModules, { recursive: true, withFileTypes: true }).filter((e) => e.isSymbolicLink());
  if (links.length > 0) throw new Error(`krew cannot unpack symbolic links, and node_modules holds ${links.length}: ${links.slice(0, 5).map((e) => join(e.parentPath, e.name)).join(', ')}`);
}

/** Builds the archive into `outDir` and writes the manifest to `manifestPath`; returns both paths and the sha256. */
export async function packageKrewPlugin(outDir: string, manifestPath: string): Promise<{ archive: string; manifest: string; sha256: string }> {
  const p = pkg();
  const stage = mkdtempSync(join(tmpdir(), 'kubectl-mdev-'));
  try {
    await exec(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', join(stage, 'dist')], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    // krew's index requires the license in the archive (without `files`, krew installs the whole archive).
    for (const f of ['package.json', 'package-lock.json', 'LICENSE']) copyFileSync(join(REPO_ROOT, f), join(stage, f));
    // The lockfile's production dependencies only; no install scripts (none is needed at run time).
    await exec('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: stage, maxBuffer: 16 * 1024 * 1024 });
    dropSymlinks(join(stage, 'node_modules'));
    writeFileSync(join(stage, PLUGIN_BIN), launcher(p.engines.node.replace(/^>=\s*/, '')));
    chmodSync(join(stage, PLUGIN_BIN), 0o755);
    mkdirSync(outDir, { recursive: true });
    const archive = join(outDir, archiveName(p.version));
    // Reproducible: sorted names, fixed owner and time, no gzip timestamp; same tree, same sha256.
    await exec('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--use-compress-program=gzip -n -9',
      '-C', stage, '-cf', archive, PLUGIN_BIN, 'LICENSE', 'package.json', 'dist', 'node_modules']);
    const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
    mkdirSync(dirname(manifestPath), { recursive: true });
    writeFileSync(manifestPath, krewManifest(p, sha256));
    return { archive, manifest: manifestPath, sha256 };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, manifest: { type: 'string' } } });
  const r = await packageKrewPlugin(resolve(values.out ?? join(REPO_ROOT, 'dist', 'krew')), resolve(values.manifest ?? join(REPO_ROOT, 'krew', `${PLUGIN_NAME}.yaml`)));
  process.stdout.write(`${r.archive}\n${r.manifest}\nsha256 ${r.sha256}\n`);
}
