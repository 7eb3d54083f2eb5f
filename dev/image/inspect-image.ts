// Reads an OCI image archive back (index → manifest → config and layers) so tests can assert what
// the image holds and how it runs, from the archive itself rather than from how it was built.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
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
    await run('tar', ['-xf', archive, '-C', dir]);
    const blob = (d: Descriptor) => join(dir, 'blobs', ...d.digest.split(':'));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]!), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
    const config = (JSON.parse(await readFile(blob(manifest.config), 'utf8')) as { config: ImageContents['config'] }).config;
    const files: string[] = [];
    for (const layer of manifest.layers) {
      const entries = tarEntryNames(gunzipSync(await readFile(blob(layer))));
      files.push(...entries.map((f) => f.replace(/^\.?\//, '').replace(/\/$/, '')).filter(Boolean));
    }
    return { config, files, layers: manifest.layers.length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Entry names of a tar stream (ustar, with PAX `path` and GNU long-name records). umoci's layers
 * end without the two zero blocks GNU tar insists on, so they are read here rather than by tar -t.
 */
export function tarEntryNames(tar: Buffer): string[] {
  const names: string[] = [];
  let longName: string | undefined;
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const field = (start: number, len: number) => h.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(h[156]!);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (type === 'x') {
      longName = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1] ?? longName;
    } else if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
    } else if (type !== 'g') {
      const prefix = field(345, 155);
      names.push(longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100)));
      longName = undefined;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}
