// SysfsIO for a FakeTree: reads come from the files on disk, but writes to migration_version,
// create and remove go to the simulated vendor driver owning the parent, which accepts or fails
// them with the driver's errno. Nothing is ever written to the fixture files, so a test cannot
// turn a written string into the "local version". Like sysfs, a write longer than a page is
// truncated (short write) unless `oversize: 'e2big'` is chosen.
import path from 'node:path';
import { isUuid } from '../../../src/api/validation.ts';
import { isRefusal } from '../policies/policy.ts';
import { policyAccept, policyVersion } from '../policies/registry.ts';
import { readBounded } from '../../../src/sysfs/bounded-read.ts';
import { confine, realRoot } from '../../../src/sysfs/confined-path.ts';
import type { FakeOwner, FakeTree } from './fake-tree.ts';
import { MIGRATION_VERSION } from '../../../src/sysfs/layout.ts';
import { assertWritable } from '../../../src/sysfs/os-sysfs.ts';
import { SYSFS_PAGE_BYTES, SysfsError, type SysfsIO } from '../../../src/sysfs/sysfs-io.ts';

export interface FakeSysfsOptions {
  /** What an over-long write does: sysfs truncation (default) or a driver-style E2BIG. */
  oversize?: 'truncate' | 'e2big';
}

export class FakeSysfs implements SysfsIO {
  readonly #tree: FakeTree;
  readonly #root: string;
  readonly #oversize: 'truncate' | 'e2big';
  readonly #readFailures = new Map<string, string>();
  /** Every write that reached a simulated driver, in order (after truncation). */
  readonly writes: { path: string; data: string }[] = [];

  constructor(tree: FakeTree, opts: FakeSysfsOptions = {}) {
    this.#tree = tree;
    this.#root = realRoot(tree.layout.sysRoot);
    this.#oversize = opts.oversize ?? 'truncate';
  }

  /** Makes every read of `p` fail with `code` (EIO, ENODEV...), as a flaky driver would. */
  failReads(p: string, code: string): void {
    this.#readFailures.set(p, code);
  }

  readAttr(p: string, maxBytes: number): string {
    const injected = this.#readFailures.get(p);
    if (injected) throw new SysfsError(injected, p, 'read failed (injected by the fake sysfs)');
    const real = this.#confined(p);
    const owner = path.basename(real) === MIGRATION_VERSION ? this.#tree.ownerOf(real) : undefined;
    if (owner) {
      const v = policyVersion(owner.parent, owner.typeId, owner.creationParams);
      if (isRefusal(v)) throw new SysfsError(v.errno, real, 'show failed', v.reason);
    }
    return readBounded(real, maxBytes);
  }

  writeAttr(p: string, data: string): number {
    const real = this.#confined(p);
    assertWritable(real);
    const bytes = Buffer.from(data, 'latin1');
    if (bytes.length === 0) return 0; // kernfs returns 0 without calling store
    if (bytes.length > SYSFS_PAGE_BYTES && this.#oversize === 'e2big') {
      throw new SysfsError('E2BIG', real, `write of ${bytes.length} bytes exceeds a page`);
    }
    const len = Math.min(bytes.length, SYSFS_PAGE_BYTES);
    const payload = bytes.toString('latin1', 0, len);
    this.writes.push({ path: real, data: payload });
    const owner = this.#tree.ownerOf(real);
    if (!owner) throw new SysfsError('ENODEV', real, 'no simulated driver owns this attribute');
    // store() sees a NUL-terminated buffer: C string handling stops at the first NUL.
    this.#store(real, owner, payload.split('\0')[0] ?? '');
    return len;
  }

  #store(real: string, owner: FakeOwner, buf: string): void {
    const attr = path.basename(real);
    if (attr === MIGRATION_VERSION) return this.#storeVersion(real, owner, buf);
    if (attr === 'create' && owner.kind === 'type') return this.#storeCreate(real, owner, buf);
    if (attr === 'remove' && owner.kind === 'mdev') return this.#storeRemove(real, owner, buf);
    throw new SysfsError('EINVAL', real, `${attr} is not writable here`);
  }

  #storeVersion(real: string, owner: FakeOwner, buf: string): void {
    const verdict = policyAccept(owner, buf);
    if (isRefusal(verdict)) throw new SysfsError(verdict.errno, real, 'driver rejected the migration version', verdict.reason);
  }

  /** mdev_sysfs.c create_store: 36 or 37 bytes, guid_parse, then the parent's capacity. */
  #storeCreate(real: string, owner: FakeOwner, buf: string): void {
    const uuid = buf.replace(/\n$/, '').toLowerCase();
    if ((buf.length !== 36 && buf.length !== 37) || !isUuid(uuid)) {
      throw new SysfsError('EINVAL', real, 'create takes a UUID (36 bytes, optionally with a newline)');
    }
    if (this.#tree.hasMdev(uuid)) throw new SysfsError('EEXIST', real, `mdev ${uuid} already exists`);
    const parent = owner.parent.address;
    if (this.#tree.available(parent, owner.typeId) <= 0) {
      throw new SysfsError('EUSERS', real, `no available instances of ${owner.typeId} on ${parent}`);
    }
    // mdevctl defines the device (attrs) before starting it; the fake applies those attrs at create.
    this.#tree.addMdev(uuid, parent, owner.typeId, this.#tree.mdevctlParams(parent, uuid) ?? []);
  }

  /** remove_store: kstrtoul; any non-zero value removes the device. */
  #storeRemove(real: string, owner: FakeOwner, buf: string): void {
    const text = buf.replace(/\n$/, '');
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new SysfsError('EINVAL', real, 'remove takes an unsigned integer');
    if (Number(text) !== 0 && owner.uuid) this.#tree.removeMdev(owner.uuid);
  }

  #confined(p: string): string {
    const c = confine(this.#root, p);
    if (!c.ok) throw new SysfsError('EACCES', p, `refused: ${c.reason}`);
    return c.path;
  }
}
