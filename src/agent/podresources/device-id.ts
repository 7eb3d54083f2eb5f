// The one canonical form of a device id, shared by every source that names a device (device
// plugins, DRA ResourceSlices, sysfs): lowercase, and only for the two forms an MdevDevice can
// have. Sysfs prints lowercase; plugins and drivers may not.
import { isPciAddress, isUuid } from '../../api/validation.ts';

/** The canonical form of a UUID or PCI-address device id, or undefined for any other id. */
export function canonicalDeviceId(id: string): string | undefined {
  const lower = id.toLowerCase();
  return isUuid(lower) || isPciAddress(lower) ? lower : undefined;
}
