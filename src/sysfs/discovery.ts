// Discovery entry point: one pass over the sysfs root (and mdevctl definitions) producing the
// node's devices and spare capacity as plain data, plus a warning for every entry skipped.
import { scanParents } from './discover-parents.ts';
import { scanMdevs, scanVendorVfs } from './discover-devices.ts';
import { DiscoveryScan, type DiscoveryOptions } from './discovery-scan.ts';
import type { DiscoveredInventory } from './inventory.ts';
import type { SysfsLayout } from './layout.ts';

export type { DiscoveryOptions } from './discovery-scan.ts';

export function discover(layout: SysfsLayout, opts: DiscoveryOptions = {}): DiscoveredInventory {
  const scan = new DiscoveryScan(layout, opts);
  const parents = scanParents(scan);
  const capacity = [...parents.values()].flatMap((p) => [...p.types.values()].map((t) => t.capacity));
  const devices = [...scanMdevs(scan, parents), ...scanVendorVfs(scan)];
  return { devices, capacity, warnings: scan.warnings };
}
