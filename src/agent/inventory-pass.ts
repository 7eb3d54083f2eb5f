// One discovery pass: scan sysfs, read every version through the backend, look up consumers,
// compute the desired objects and publish the difference. Returns the snapshot the probe
// responder answers from.
import { deviceObjectName, type Backend } from '../api/v1alpha1/index.ts';
import type { CompatBackend } from '../compat/backend.ts';
import { discover } from '../sysfs/discovery.ts';
import type { SysfsLayout } from '../sysfs/layout.ts';
import type { SysfsIO } from '../sysfs/sysfs-io.ts';
import type { ConsumerLookup, ConsumerState } from './consumer-lookup.ts';
import { iommuGroupsOf } from './iommu-groups.ts';
import { desiredState, type CapacityReading, type DeviceReading } from './desired-state.ts';
import type { InventoryDevice, ProbeInventory } from './probe-plan.ts';
import type { PublishResult, Publisher } from './publisher.ts';

export interface PassContext {
  nodeName: string;
  nodeUid: string | undefined;
  layout: SysfsLayout;
  io: SysfsIO;
  backend: CompatBackend;
  consumers: ConsumerLookup;
  publisher: Publisher;
}

export interface PassOutcome {
  inventory: ProbeInventory;
  publish: PublishResult;
  warnings: string[];
  consumers: ConsumerState;
}

export async function runInventoryPass(ctx: PassContext): Promise<PassOutcome> {
  const found = discover(ctx.layout, { io: ctx.io });
  const devices: DeviceReading[] = [];
  for (const device of found.devices) devices.push({ device, version: await ctx.backend.readVersion(device) });
  const capacity: CapacityReading[] = [];
  for (const slot of found.capacity) capacity.push({ capacity: slot, version: await ctx.backend.readVersion(slot) });
  const consumers = await ctx.consumers.lookup(iommuGroupsOf(found.devices), ctx.publisher.publishedConsumers());
  const state = desiredState({
    nodeName: ctx.nodeName,
    nodeUid: ctx.nodeUid,
    backend: ctx.backend.name as Backend,
    devices,
    capacity,
    consumers: consumers.consumers,
  });
  const publish = await ctx.publisher.publish(state);
  const byName = new Map<string, InventoryDevice>();
  for (const { device, version } of devices) {
    const entry: InventoryDevice = { device, free: !consumers.consumers.has(device.id.toLowerCase()) };
    if (version.migratable) entry.version = version.version;
    byName.set(deviceObjectName(ctx.nodeName, device.id), entry);
  }
  return {
    inventory: { nodeName: ctx.nodeName, devices: byName, capacity: found.capacity },
    publish,
    warnings: found.warnings,
    consumers,
  };
}
