// The node side of a discovery pass: the sysfs scan, then each device's version read through the
// backend, one at a time (a vendor command or driver is never asked twice at once). Each device is
// handed on as soon as its own version is read, so publishing overlaps the reads of the rest: with
// an exec backend a read is a process spawn, and 256 of them in a row used to come before any write.
// A device is handed on only with its reading complete: its version passed the backend's checks
// (checkVersionString) or it is published as not migratable, with the reason.
import type { CompatBackend } from '../compat/backend.ts';
import { discover } from '../sysfs/discovery.ts';
import type { DiscoveredInventory } from '../sysfs/inventory.ts';
import type { SysfsLayout } from '../sysfs/layout.ts';
import type { SysfsIO } from '../sysfs/sysfs-io.ts';
import type { CapacityReading, DeviceReading } from './desired-state.ts';

export interface ReadingSource {
  layout: SysfsLayout;
  io: SysfsIO;
  backend: CompatBackend;
}

export interface CompleteReading {
  devices: DeviceReading[];
  capacity: CapacityReading[];
}

export class InventoryReading {
  readonly found: DiscoveredInventory;
  /** Every device and capacity reading; rejects when a read threw (the pass fails, nothing is deleted). */
  readonly complete: Promise<CompleteReading>;
  readonly #devices: DeviceReading[] = [];
  #wake: (() => void) | undefined;

  /** Scans now (synchronously) and starts the version reads. */
  constructor(source: ReadingSource) {
    this.found = discover(source.layout, { io: source.io });
    this.complete = this.#read(source.backend);
    // A failure is reported through complete and devices(); nobody may be listening yet.
    this.complete.catch(() => undefined);
  }

  /** The device readings in discovery order, each as soon as its version is read. */
  async *devices(): AsyncGenerator<DeviceReading> {
    for (let i = 0; ; i++) {
      while (i >= this.#devices.length) {
        const settled = await Promise.race([this.complete.then(() => true), new Promise<false>((r) => (this.#wake = () => r(false)))]);
        if (settled && i >= this.#devices.length) return;
      }
      yield this.#devices[i] as DeviceReading;
    }
  }

  async #read(backend: CompatBackend): Promise<CompleteReading> {
    for (const device of this.found.devices) {
      this.#devices.push({ device, version: await backend.readVersion(device) });
      this.#wake?.();
    }
    const capacity: CapacityReading[] = [];
    for (const slot of this.found.capacity) capacity.push({ capacity: slot, version: await backend.readVersion(slot) });
    return { devices: this.#devices, capacity };
  }
}
