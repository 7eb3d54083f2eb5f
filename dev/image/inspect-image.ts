// Reads an OCI image archive back (index → manifest → config and layers) so tests can assert what
// the image holds and how it runs, from the archive itself rather than from how it was built.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { run } from '../localcluster/node/exec.ts';

export interface ImageContents {
  config: { User?: string; Entrypoint?: string[]; WorkingDir?: string; Env?: string[]; Labels?: Record<string, string> };
  /** Every path in every layer, without a leading `./` or `/`. */
  files: string[];
  layers: number;
}

interface Descriptor { digest: string }

export async function inspectImage(archive: string): Promise<ImageContents> {
  const dir = await mkdtemp(join(tmpdir(), 'mdev-image-'));
  try {
    await run('tar', ['-xf', archive, '-C', dir, 'index.json', 'blobs']);
    const blob = (d: Descriptor) => join(dir, 'blobs', ...d.digest.split(':'));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]!), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
    const config = (JSON.parse(await readFile(blob(manifest.config), 'utf8')) as { config: ImageContents['config'] }).config;
    const files: string[] = [];
    for (const layer of manifest.layers) {
      const listing = await run('tar', ['-tzf', blob(layer)], { timeoutMs: 300_000 });
      files.push(...listing.split('\n').filter(Boolean).map((f) => f.replace(/^\.?\//, '').replace(/\/$/, '')).filter(Boolean));
    }
    return { config, files, layers: manifest.layers.length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
