// One discovery pass: scan sysfs, read every version through the backend, look up consumers,
// compute the desired objects and publish the difference. Devices are published as their versions
// are read (inventory-reading.ts); the MdevNode and the deletion of vanished devices wait for every
// reading. Returns the snapshot the probe responder answers from.
import { deviceObjectName, type Backend } from '../api/v1alpha1/index.ts';
import type { CompatBackend } from '../compat/backend.ts';
import type { SysfsLayout } from '../sysfs/layout.ts';
import type { SysfsIO } from '../sysfs/sysfs-io.ts';
import type { ConsumerLookup, ConsumerState } from './consumer-lookup.ts';
import { iommuGroupsOf } from './iommu-groups.ts';
import { desiredDevice, desiredNode, type DesiredInput, type DesiredObject } from './desired-state.ts';
import { InventoryReading } from './inventory-reading.ts';
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

/**
 * `reading`: one started earlier (the agent's first pass reads sysfs and the driver while its
 * informers sync); default a new one.
 */
export async function runInventoryPass(ctx: PassContext, reading: InventoryReading = new InventoryReading(ctx)): Promise<PassOutcome> {
  const { found } = reading;
  const consumers = await ctx.consumers.lookup(iommuGroupsOf(found.devices), ctx.publisher.publishedConsumers());
  const input: DesiredInput = { nodeName: ctx.nodeName, nodeUid: ctx.nodeUid, backend: ctx.backend.name as Backend, devices: [], capacity: [], consumers: consumers.consumers };
  const publish = await ctx.publisher.publish(desiredDevices(input, reading), async () => desiredNode({ ...input, ...(await reading.complete) }));
  const { devices } = await reading.complete;
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

/** Each device's desired object, as soon as its version is read. */
async function* desiredDevices(input: DesiredInput, reading: InventoryReading): AsyncGenerator<DesiredObject> {
  for await (const r of reading.devices()) yield desiredDevice(input, r);
}
