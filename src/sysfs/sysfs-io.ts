// The one door to sysfs attributes. A plain file cannot reject a write the way a driver does, so
// everything that reads or writes an attribute goes through this interface: OsSysfs for a real
// host, FakeSysfs for a simulated one.

/** Attributes are small; anything larger than this is hostile or broken and is not read whole. */
export const ATTR_MAX_BYTES = 8192;
/** sysfs passes at most one page to `store` and silently drops the rest (fs/kernfs/file.c). */
export const SYSFS_PAGE_BYTES = 4096;
/** The only attributes the agent ever writes (DESIGN §6). */
export const WRITABLE_ATTRS: ReadonlySet<string> = new Set(['migration_version', 'create', 'remove']);

export interface SysfsIO {
  /** Reads at most `maxBytes` (latin1-decoded, so every byte maps to one char); throws SysfsError. */
  readAttr(path: string, maxBytes: number): string;
  /** ONE write(2) of `data`; returns the byte count the kernel took (may be short); throws SysfsError. */
  writeAttr(path: string, data: string): number;
}

/** An attribute read or write failed: `code` is the errno name (`EINVAL`), as the driver returned it. */
export class SysfsError extends Error {
  readonly code: string;
  readonly path: string;
  /** What the driver would have logged (simulated drivers only; a real kernel returns just errno). */
  readonly detail: string | undefined;

  constructor(code: string, path: string, message: string, detail?: string) {
    super(`${code}: ${message} (${path})`);
    this.name = 'SysfsError';
    this.code = code;
    this.path = path;
    this.detail = detail;
  }
}

/** Converts a Node fs error into a SysfsError naming the path; other errors pass through. */
export function toSysfsError(err: unknown, path: string, action: string): SysfsError {
  if (err instanceof SysfsError) return err;
  const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'EIO';
  const message = err instanceof Error ? err.message : String(err);
  return new SysfsError(code, path, `${action} failed: ${message}`);
}
