// What a driver's errno means for a version test. The kernel returns only the number; vendors
// log details to syslog, so the reason names what an operator should look at.

const MEANINGS: Record<string, string> = {
  EINVAL: 'the driver rejected the source version as incompatible',
  ENODEV: 'the driver does not support migration on this device',
  EFAULT: 'the driver rejected the migration stream header',
  E2BIG: 'the version string is too long for the driver',
  EACCES: 'permission denied writing the attribute (the agent needs a privileged host /sys mount)',
  EPERM: 'operation not permitted writing the attribute (the agent needs a privileged host /sys mount)',
  EROFS: '/sys is mounted read-only in the agent (mount the host /sys read-write)',
  ENOENT: 'the attribute vanished (the device was removed during the test)',
  EBUSY: 'the device is busy',
  EIO: 'I/O error from the driver',
};

/** `EINVAL: <detail or meaning>`; a driver's logged detail (simulated drivers) is preferred. */
export function errnoReason(code: string, detail?: string): string {
  return `${code}: ${detail ?? MEANINGS[code] ?? 'the driver refused the write'}`;
}
