// SysfsIO over the real kernel. Writes are exactly one write(2): sysfs hands each write to the
// driver's `store` separately, so retrying a short write would run a second, bogus version test
// with the remainder. The caller compares the returned count with the length it meant to write.
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { readBounded } from './bounded-read.ts';
import { confine, realRoot } from './confined-path.ts';
import { SysfsError, WRITABLE_ATTRS, toSysfsError, type SysfsIO } from './sysfs-io.ts';

export class OsSysfs implements SysfsIO {
  readonly #root: string;

  /** `sysRoot`: every path read or written must resolve inside it. */
  constructor(sysRoot: string) {
    this.#root = realRoot(sysRoot);
  }

  readAttr(p: string, maxBytes: number): string {
    return readBounded(this.#confined(p), maxBytes);
  }

  writeAttr(p: string, data: string): number {
    const real = this.#confined(p);
    assertWritable(real);
    let fd: number;
    try {
      fd = openSync(real, constants.O_WRONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw toSysfsError(err, real, 'open for writing');
    }
    try {
      return writeSync(fd, Buffer.from(data, 'latin1'));
    } catch (err) {
      throw toSysfsError(err, real, 'write');
    } finally {
      closeSync(fd);
    }
  }

  #confined(p: string): string {
    const c = confine(this.#root, p);
    if (!c.ok) throw new SysfsError('EACCES', p, `refused: ${c.reason}`);
    return c.path;
  }
}

/** Only the attributes of the allow-list may be written, whatever path the caller passes. */
export function assertWritable(realPath: string): void {
  const base = path.basename(realPath);
  if (!WRITABLE_ATTRS.has(base)) {
    throw new SysfsError('EACCES', realPath, `refused: ${base} is not a writable attribute (allowed: ${[...WRITABLE_ATTRS].join(', ')})`);
  }
}
