// Fleet profiles for the STAND-IN fleet: which simulated nodes exist and what hardware each has.
// A profile is a small JSON document (validated with zod) or a built-in name; `expandProfile`
// turns it into one plain spec per node. Pure: no I/O.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isObjectName, isTypeId } from '../../../src/api/validation.ts';

const taint = z.object({ key: z.string().min(1), value: z.string().optional(), effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']) });

/** The simulated vendors: each maps to one policy in dev/fakes/policies (see node-tree.ts). */
export const VENDORS = ['nvidia', 'intel-gvt', 'mtty', 'accel'] as const;
export type Vendor = (typeof VENDORS)[number];

/** The mdev type a GPU gets when the profile names none. */
export const DEFAULT_TYPE: Readonly<Record<Vendor, string>> = { nvidia: 'nvidia-1012', 'intel-gvt': 'i915-GVTg_V5_4', mtty: 'mtty-2', accel: 'hisi_acc-qm' };

const majorMinor = z.string().regex(/^\d+\.\d+$/, 'expected major.minor, e.g. 2.3');
// The simulated accel driver joins the values into its `key=value;...` migration string, so
// separators are not allowed in them.
const paramValue = z.string().regex(/^[A-Za-z0-9_.+-]{1,64}$/, 'expected 1-64 of A-Z a-z 0-9 _ . + -');

/**
 * One mdev parent with devices of one type already created on it: a GPU (nvidia, intel-gvt), the
 * mtty sample's virtual serial device, or an accelerator VF whose devices carry creation parameters.
 */
export const gpuSpec = z
  .object({
    vendor: z.enum(VENDORS).default('nvidia'),
    /** NVIDIA: board SKU (live migration never crosses boards). */
    board: z.string().min(1).default('H100-PCIE-80GB'),
    /** NVIDIA: host driver version; the major number is the branch. */
    hostDriver: z.string().regex(/^\d+(\.\d+)*$/).default('550.54.15'),
    vgpuVersion: z.int().min(0).default(0x12),
    vgpuRange: z.tuple([z.int().min(0), z.int().min(0)]).default([0x10, 0x13]),
    /** Intel GVT-g: the migration software version. */
    softwareVersion: z.int().min(0).optional(),
    /** mtty: the migration stream header version (default 1.0); major and minor must match. */
    streamVersion: majorMinor.optional(),
    /** accel: the migration driver version (default 2.3); the major must match. */
    driverVersion: majorMinor.optional(),
    /** accel: creation parameters every device is created with (mdevctl attrs); unset ones take the driver's defaults. */
    params: z.object({ qp: paramValue, svc: paramValue, agg: paramValue }).partial().optional(),
    /** The mdev type; default per vendor (DEFAULT_TYPE). */
    typeId: z.string().refine(isTypeId, 'not a valid mdev type id').optional(),
    typeName: z.string().optional(),
    /** Devices created on the GPU. */
    devices: z.int().min(0).max(64).default(4),
    /** Further instances that could still be created (spare capacity). */
    spare: z.int().min(0).max(64).default(0),
  })
  .transform((g) => ({ ...g, typeId: g.typeId ?? DEFAULT_TYPE[g.vendor] }));

export const nodeGroup = z.object({
  /** Nodes in the group (within `--nodes N` the groups are cycled instead). */
  count: z.int().min(1).max(10_000).default(1),
  labels: z.record(z.string(), z.string()).default({}),
  taints: z.array(taint).default([]),
  unschedulable: z.boolean().default(false),
  /** false: no agent runs on the node (its lease never appears). */
  agent: z.boolean().default(true),
  gpus: z.array(gpuSpec).max(16).default([]),
});

export const profileSpec = z.object({ groups: z.array(nodeGroup).min(1) });

export type GpuSpec = z.infer<typeof gpuSpec>;
export type NodeGroup = z.infer<typeof nodeGroup>;
export type ProfileSpec = z.infer<typeof profileSpec>;
export type ProfileInput = z.input<typeof profileSpec>;

export interface FleetNodeSpec {
  name: string;
  labels: Record<string, string>;
  taints: NodeGroup['taints'];
  unschedulable: boolean;
  agent: boolean;
  gpus: GpuSpec[];
}

/**
 * The demo profile: H100s on two driver branches, one node with an older vGPU range, an Intel
 * GVT-g node, an mtty node and an accelerator VF node, so a fleet shows Compatible, Incompatible
 * and TypeMismatch side by side across four vendors.
 */
export const DEMO_PROFILE: ProfileInput = {
  groups: [
    { gpus: [{ hostDriver: '550.54.15', devices: 4 }] },
    { gpus: [{ hostDriver: '550.90.07', devices: 4 }] },
    { gpus: [{ hostDriver: '535.161.08', devices: 4 }] },
    { gpus: [{ hostDriver: '550.54.15', devices: 4, vgpuRange: [0x10, 0x11] }] },
    { gpus: [{ board: 'L40S-48GB', typeId: 'nvidia-1013', hostDriver: '550.54.15', devices: 4 }] },
    { gpus: [{ vendor: 'intel-gvt', typeId: 'i915-GVTg_V5_4', devices: 2 }] },
    { gpus: [{ vendor: 'mtty', typeId: 'mtty-2', devices: 2, spare: 2 }] },
    { gpus: [{ vendor: 'accel', typeId: 'hisi_acc-qm', driverVersion: '2.3', params: { qp: '64', agg: '2' }, devices: 2 }] },
  ],
};

export const BUILTIN_PROFILES: Record<string, ProfileInput> = { demo: DEMO_PROFILE };

export function parseProfile(input: unknown): ProfileSpec {
  const r = profileSpec.safeParse(input);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new Error(`invalid fleet profile at ${i?.path.join('.') || '<root>'}: ${i?.message}`);
  }
  return r.data;
}

/**
 * One spec per node. With `nodes`, the groups are cycled to exactly that many nodes (counts
 * ignored); without, each group contributes `count` nodes. Names are `<prefix>-<index>`.
 */
export function expandProfile(profile: ProfileSpec, opts: { prefix: string; nodes?: number }): FleetNodeSpec[] {
  const groups: NodeGroup[] = [];
  if (opts.nodes !== undefined) {
    for (let i = 0; i < opts.nodes; i++) groups.push(profile.groups[i % profile.groups.length] as NodeGroup);
  } else {
    for (const g of profile.groups) for (let i = 0; i < g.count; i++) groups.push(g);
  }
  const width = String(groups.length).length;
  return groups.map((g, i) => {
    const name = `${opts.prefix}-${String(i + 1).padStart(width, '0')}`;
    if (!isObjectName(name)) throw new Error(`fleet node name ${JSON.stringify(name)} is not a valid Node name: choose another --prefix`);
    return { name, labels: { ...g.labels }, taints: [...g.taints], unschedulable: g.unschedulable, agent: g.agent, gpus: g.gpus.map((x) => ({ ...x })) };
  });
}

/** A canonical lowercase UUID derived from `seed` (stable across runs, so names are too). */
export function seededUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** PCI address of the i-th GPU of a node: 0000:<0x41+i>:00.0. */
export function gpuAddress(index: number): string {
  return `0000:${(0x41 + index).toString(16).padStart(2, '0')}:00.0`;
}
