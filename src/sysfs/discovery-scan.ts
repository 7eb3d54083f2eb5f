// The careful file access discovery is built on: every listing is sorted (stable output), every
// path is resolved inside the root, every read is bounded, and anything wrong becomes a warning
// that names the path instead of an exception, so one bad entry never hides the rest.
import { lstatSync, readdirSync } from 'node:fs';
import { readBounded } from './bounded-read.ts';
import { confine, realRoot } from './confined-path.ts';
import type { SysfsLayout } from './layout.ts';
import { OsSysfs } from './os-sysfs.ts';
import { ATTR_MAX_BYTES, type SysfsIO } from './sysfs-io.ts';

export interface DiscoveryOptions {
  /** How attributes are read; defaults to OsSysfs over layout.sysRoot. */
  io?: SysfsIO;
  /** Largest attribute read (default 8 KiB); larger ones are skipped with a warning. */
  maxAttrBytes?: number;
}

const MDEVCTL_MAX_BYTES = 65536;

export class DiscoveryScan {
  readonly layout: SysfsLayout;
  readonly warnings: string[] = [];
  readonly #sysRoot: string;
  readonly #mdevctlRoot: string | undefined;
  readonly #io: SysfsIO;
  readonly #maxBytes: number;

  constructor(layout: SysfsLayout, opts: DiscoveryOptions) {
    this.layout = layout;
    this.#sysRoot = realRoot(layout.sysRoot);
    this.#mdevctlRoot = layout.mdevctlRoot !== undefined && exists(layout.mdevctlRoot) ? realRoot(layout.mdevctlRoot) : undefined;
    this.#io = opts.io ?? new OsSysfs(layout.sysRoot);
    this.#maxBytes = opts.maxAttrBytes ?? ATTR_MAX_BYTES;
  }

  warn(p: string, reason: string): void {
    this.warnings.push(`skipped ${p}: ${reason}`);
  }

  /** Sorted entry names of a directory; a missing directory is simply empty. */
  list(dir: string): string[] {
    try {
      return readdirSync(dir).sort();
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.warn(dir, `cannot list: ${(err as Error).message}`);
      return [];
    }
  }

  /** The real path of `p` if it resolves inside the sysfs root; else a warning and undefined. */
  confined(p: string): string | undefined {
    const c = confine(this.#sysRoot, p);
    if (c.ok) return c.path;
    this.warn(p, c.reason);
    return undefined;
  }

  /** Like confined(), but an absent entry is silently undefined (optional attributes). */
  optional(p: string): string | undefined {
    return exists(p) ? this.confined(p) : undefined;
  }

  /** An optional attribute's contents with exactly one trailing newline stripped. */
  readOptional(p: string): string | undefined {
    const real = this.optional(p);
    if (real === undefined) return undefined;
    try {
      return this.#io.readAttr(real, this.#maxBytes).replace(/\n$/, '');
    } catch (err) {
      this.warn(p, err instanceof Error ? err.message : String(err));
      return undefined;
    }
  }

  /** An mdevctl definition (outside sysfs, so read directly, confined to the mdevctl root). */
  readMdevctl(p: string): string | undefined {
    if (this.#mdevctlRoot === undefined || !exists(p)) return undefined;
    const c = confine(this.#mdevctlRoot, p);
    if (!c.ok) return void this.warn(p, c.reason);
    try {
      return readBounded(c.path, MDEVCTL_MAX_BYTES);
    } catch (err) {
      return void this.warn(p, err instanceof Error ? err.message : String(err));
    }
  }
}

/** True when the entry itself exists (a dangling or looping link counts: it is reported later). */
function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
