// Builds an OCI image archive from plain directories with umoci (a real OCI image tool: it writes
// the layers, config, manifest and index), with no registry and no container engine, and imports
// it into the local node's containerd.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

export interface ImageConfig {
  entrypoint: string[];
  cmd?: string[];
  user?: string;
  workdir?: string;
  env?: string[];
  labels?: Record<string, string>;
}

export interface ImageSpec {
  /** The tag inside the archive; `ctr images import --base-name R` names the image R:<tag>. */
  tag: string;
  /** One layer per directory, in order: `src`'s contents appear at `dest` in the image. */
  layers: { src: string; dest: string }[];
  config: ImageConfig;
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function umociConfigArgs(c: ImageConfig): string[] {
  const args = ['--os', 'linux', '--architecture', 'amd64', '--config.workingdir', c.workdir ?? '/', '--config.env', DEFAULT_PATH];
  for (const e of c.env ?? []) args.push('--config.env', e);
  for (const e of c.entrypoint) args.push('--config.entrypoint', e);
  for (const a of c.cmd ?? []) args.push('--config.cmd', a);
  if (c.user) args.push('--config.user', c.user);
  for (const [k, v] of Object.entries(c.labels ?? {})) args.push('--config.label', `${k}=${v}`);
  return args;
}

/** Writes `spec` as an OCI image-layout tar at `out`, using `workDir` for the scratch layout. */
export async function buildOciArchive(umoci: string, spec: ImageSpec, out: string, workDir: string): Promise<void> {
  const scratch = await mkdtemp(join(workDir, 'layout-'));
  const layout = join(scratch, 'oci');
  const image = `${layout}:${spec.tag}`;
  const remedy = 'the umoci message above names the failing file or option';
  try {
    await run(umoci, ['init', '--layout', layout], { remedy });
    await run(umoci, ['new', '--image', image], { remedy });
    for (const l of spec.layers) await run(umoci, ['insert', '--image', image, l.src, l.dest], { remedy, timeoutMs: 600_000 });
    await run(umoci, ['config', '--image', image, ...umociConfigArgs(spec.config)], { remedy });
    await run(umoci, ['gc', '--layout', layout], { remedy });
    await run('tar', ['-C', layout, '-cf', out, '.'], { timeoutMs: 600_000 });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Imports an archive into the node's containerd (CRI namespace) as `<baseName>:<tag>`. */
export async function importOciArchive(ctr: string, socket: string, archive: string, baseName: string): Promise<void> {
  await run(ctr, ['--address', socket, '-n', 'k8s.io', 'images', 'import', '--base-name', baseName, archive], {
    timeoutMs: 600_000, remedy: 'is the real node running? (`npm run cluster:status`)',
  });
}
