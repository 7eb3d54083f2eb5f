// Reads an attribute without trusting its size: sysfs reports 4096 for every attribute, and a
// hostile tree can put a multi-gigabyte file or a FIFO where an attribute should be.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { SysfsError, toSysfsError } from './sysfs-io.ts';

// O_NONBLOCK so that a FIFO planted as an attribute cannot hang the agent on open.
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Reads at most maxBytes+1 bytes; more than maxBytes is refused (EFBIG), never read whole. */
export function readBounded(path: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    throw toSysfsError(err, path, 'open for reading');
  }
  try {
    if (!fstatSync(fd).isFile()) throw new SysfsError('EISDIR', path, 'not a regular attribute file');
    return readUpTo(fd, path, maxBytes);
  } catch (err) {
    throw toSysfsError(err, path, 'read');
  } finally {
    closeSync(fd);
  }
}

function readUpTo(fd: number, path: string, maxBytes: number): string {
  const buf = Buffer.alloc(maxBytes + 1);
  let total = 0;
  while (total < buf.length) {
    const n = readSync(fd, buf, total, buf.length - total, null);
    if (n === 0) break;
    total += n;
  }
  if (total > maxBytes) {
    throw new SysfsError('EFBIG', path, `attribute is larger than the ${maxBytes}-byte limit`);
  }
  return buf.toString('latin1', 0, total);
}
