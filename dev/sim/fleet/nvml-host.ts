// The STAND-IN NVIDIA host behind a fleet node that runs the nvml backend: the JSON fixture the
// mock NVML helper reads (dev/nvml/fixture.ts) for the node's GPUs. It is rewritten whenever the
// kubelet stand-in's pods on the node change, so a VM using one of the node's vGPUs shows up as a
// running vGPU instance, as NVIDIA's vGPU Manager shows it once QEMU has opened the mdev.
// A VM keeps its guest driver and negotiated vGPU version across migrations (nvml.h: "The
// negotiated vGPU version stays the same across VM migration"): the fleet shares one GuestBook.
import path from 'node:path';
import type { FakeTree } from '../../fakes/sysfs/fake-tree.ts';
import { writeNvmlFixture, type NvmlFixture, type NvmlFixtureInstance } from '../../nvml/fixture.ts';
import { parentNames } from './node-tree.ts';
import type { FleetNodeSpec, GpuSpec } from './profile.ts';

/** What the guest of a VM reported to the vGPU Manager where it first ran. */
export interface Guest {
  guestDriver: string;
  guestVgpuVersion: number;
}

/** The guests of the fleet's VMs, by VMI uid. */
export type GuestBook = Map<string, Guest>;

/** A device a launcher pod on the node holds, with the VMI it belongs to. */
export interface HeldDevice {
  deviceId: string;
  vmiUid: string | undefined;
}

/** Whether a node runs the nvml backend: every parent is an NVIDIA GPU (mixed nodes stay simulated). */
export function isNvidiaNode(spec: FleetNodeSpec): boolean {
  return spec.gpus.length > 0 && spec.gpus.every((g) => g.vendor === 'nvidia');
}

export class NvmlHost {
  readonly fixturePath: string;
  readonly #tree: FakeTree;
  readonly #gpus: Map<string, GpuSpec>;
  readonly #guests: GuestBook;

  constructor(spec: FleetNodeSpec, tree: FakeTree, guests: GuestBook) {
    this.fixturePath = path.join(tree.root, 'nvml-fixture.json');
    this.#tree = tree;
    this.#guests = guests;
    const names = parentNames(spec.gpus);
    this.#gpus = new Map(spec.gpus.map((g, i) => [names[i] as string, g]));
    this.update([]);
  }

  /** Rewrites the fixture: the node's GPUs, and a running vGPU for each held mdev of theirs. */
  update(held: readonly HeldDevice[]): void {
    const instances = new Map<string, NvmlFixtureInstance[]>();
    for (const { deviceId, vmiUid } of held) {
      const mdev = this.#tree.mdevInfo(deviceId);
      const gpu = mdev && this.#gpus.get(mdev.parent);
      if (!mdev || !gpu) continue;
      const guest = this.#guestOf(vmiUid, gpu);
      const list = instances.get(mdev.parent) ?? [];
      list.push({ mdevUuid: deviceId, type: mdev.typeId, ...guest });
      instances.set(mdev.parent, list);
    }
    const fixture: NvmlFixture = {
      gpus: [...this.#gpus].map(([address, g]) => ({
        address,
        board: g.board,
        hostDriver: g.hostDriver,
        vgpuRange: g.vgpuRange,
        instances: instances.get(address) ?? [],
      })),
    };
    writeNvmlFixture(this.fixturePath, fixture);
  }

  /** The guest a VM reported where it first ran; a VM first seen here gets this GPU's driver and vGPU version. */
  #guestOf(vmiUid: string | undefined, gpu: GpuSpec): Guest {
    const fresh: Guest = { guestDriver: gpu.hostDriver, guestVgpuVersion: gpu.vgpuVersion };
    if (vmiUid === undefined) return fresh;
    const known = this.#guests.get(vmiUid);
    if (known) return known;
    this.#guests.set(vmiUid, fresh);
    return fresh;
  }
}
