// The proposal's attribute as the backend: read `migration_version` (exactly one trailing newline
// stripped), test by ONE write of the source string into the target's attribute. The string is
// validated first, the byte count is checked (sysfs truncates long writes silently), and the
// errno is the verdict.
import { checkVersionString } from '../api/validation.ts';
import { ATTR_MAX_BYTES, SysfsError, type SysfsIO } from '../sysfs/sysfs-io.ts';
import { attrPathOf, describeSubject, type BackendName, type CompatBackend, type CompatSubject, type TestVerdict, type VersionRead } from './backend.ts';
import { errnoReason } from './errno-verdict.ts';

export const ABSENT_REASON = 'attribute migration_version absent: the driver does not support migration';

export class SysfsBackend implements CompatBackend {
  readonly name: BackendName;
  readonly #io: SysfsIO;

  constructor(io: SysfsIO, name: BackendName = 'sysfs') {
    this.#io = io;
    this.name = name;
  }

  async readVersion(subject: CompatSubject): Promise<VersionRead> {
    const attr = attrPathOf(subject);
    if (attr === undefined) return { migratable: false, reason: ABSENT_REASON };
    let raw: string;
    try {
      raw = this.#io.readAttr(attr, ATTR_MAX_BYTES);
    } catch (err) {
      return { migratable: false, reason: `reading ${attr} failed: ${readFailure(err)}` };
    }
    const version = raw.replace(/\n$/, '');
    const check = checkVersionString(version);
    if (!check.ok) return { migratable: false, reason: `${attr} holds an unusable version: ${check.reason}` };
    return { migratable: true, version };
  }

  async test(target: CompatSubject, sourceVersion: string): Promise<TestVerdict> {
    const check = checkVersionString(sourceVersion);
    if (!check.ok) return { accepted: false, reason: `source version refused before any write: ${check.reason}` };
    const attr = attrPathOf(target);
    if (attr === undefined) return { accepted: false, reason: `${describeSubject(target)}: ${ABSENT_REASON}` };
    const len = Buffer.byteLength(sourceVersion, 'latin1');
    let written: number;
    try {
      written = this.#io.writeAttr(attr, sourceVersion);
    } catch (err) {
      const code = err instanceof SysfsError ? err.code : 'EIO';
      return { accepted: false, errno: code, reason: errnoReason(code, err instanceof SysfsError ? err.detail : undefined) };
    }
    if (written !== len) {
      return { accepted: false, reason: `write truncated: only ${written} of ${len} bytes reached the driver, so its answer does not cover the whole string` };
    }
    return { accepted: true, reason: 'driver accepted the source version' };
  }
}

function readFailure(err: unknown): string {
  if (err instanceof SysfsError) return err.detail ? `${err.message}; driver: ${err.detail}` : err.message;
  return err instanceof Error ? err.message : String(err);
}
