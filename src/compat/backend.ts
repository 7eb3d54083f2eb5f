// The read-and-test protocol behind one interface (DESIGN §5): read a device's migration
// version; test whether a target accepts a source's version. Backends: sysfs, exec (and its nvml
// preset), simulated.
import type { Backend, VersionKind } from '../api/v1alpha1/constants.ts';
import type { DiscoveredDevice, TypeCapacity } from '../sysfs/inventory.ts';

export type BackendName = Backend;

/** A device, or a type slot on a parent (testing before a duplicate is created). */
export type CompatSubject = DiscoveredDevice | TypeCapacity;

export type VersionRead =
  | { migratable: true; version: string; /** Set by backends that tell the two kinds apart (nvml). */ kind?: VersionKind }
  | { migratable: false; reason: string };

export interface TestVerdict {
  accepted: boolean;
  /** The errno name the driver or vendor tool returned (`EINVAL`), when there was one. */
  errno?: string;
  /** Why, in words an operator can act on; for a rejection from the kernel, `<errno>: <meaning>`. */
  reason: string;
}

export interface CompatBackend {
  readonly name: BackendName;
  readVersion(subject: CompatSubject): Promise<VersionRead>;
  /** Never lets a string that fails checkVersionString reach the device. */
  test(target: CompatSubject, sourceVersion: string): Promise<TestVerdict>;
}

export function isDevice(subject: CompatSubject): subject is DiscoveredDevice {
  return 'kind' in subject;
}

/** The attribute to read and write: the device's own, or the type-level one for a type slot. */
export function attrPathOf(subject: CompatSubject): string | undefined {
  return isDevice(subject) ? subject.attrPath : subject.typeAttrPath;
}

/** A short label for messages: `mdev 6f1c... on 0000:41:00.4` or `type nvidia-1012 on 0000:41:00.4`. */
export function describeSubject(subject: CompatSubject): string {
  return isDevice(subject)
    ? `${subject.kind} ${subject.id} on ${subject.parent.address}`
    : `type ${subject.type.id} on ${subject.parent.address}`;
}
