// The demo's world as plain data: which simulated nodes exist (vendors, boards, driver versions,
// a cordoned one, a full one, one whose agent goes stale), which VMIs run where, and what each
// step of the story must end in. `story.ts` acts it out; `summary.ts` checks the outcomes against
// the expectations here. Pure: no I/O.
import type { z } from 'zod';
import { gpuSpec, type FleetNodeSpec, type GpuSpec } from '../sim/fleet/profile.ts';
import { DEFAULT_NAMESPACE } from '../../src/api/v1alpha1/constants.ts';

export const H100_TYPE = 'nvidia-1012';

/** A parent as the fleet profile describes it, defaults filled in. */
function gpu(input: z.input<typeof gpuSpec>): GpuSpec {
  return gpuSpec.parse(input);
}

/** An NVIDIA GPU with `devices` vGPUs of the H100 type; the host driver's major number is its branch. */
function nvidia(hostDriver: string, devices: number, board = 'H100-PCIE-80GB'): GpuSpec {
  return gpu({ vendor: 'nvidia', board, hostDriver, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: H100_TYPE, typeName: 'GRID H100-4C', devices });
}

/** Node roles in the story; the names are `<prefix><role>`. */
export const ROLES = ['h100-a', 'h100-b', 'h100-c', 'h100-nvl', 'gvt-1', 'mtty-1', 'accel-1', 'h100-cordoned', 'h100-full', 'h100-stale'] as const;
export type Role = (typeof ROLES)[number];

interface NodeRole {
  role: Role;
  /** One line shown when the fleet starts. */
  note: string;
  gpus: GpuSpec[];
  unschedulable?: boolean;
}

const NODES: NodeRole[] = [
  { role: 'h100-a', note: 'H100 PCIe, host driver 550.54.15: the source of most VMIs', gpus: [nvidia('550.54.15', 6)] },
  { role: 'h100-b', note: 'H100 PCIe, host driver 550.90.07: same branch, newer, so it accepts 550.54.15', gpus: [nvidia('550.90.07', 4)] },
  { role: 'h100-c', note: 'H100 PCIe, host driver 535.161.08: another branch', gpus: [nvidia('535.161.08', 4)] },
  { role: 'h100-nvl', note: 'H100 NVL board, host driver 550.54.15: boards never mix', gpus: [nvidia('550.54.15', 4, 'H100-NVL-94GB')] },
  { role: 'gvt-1', note: 'Intel GVT-g (i915-GVTg_V5_4): another vendor, another device type', gpus: [gpu({ vendor: 'intel-gvt', typeId: 'i915-GVTg_V5_4', typeName: 'GVTg_V5_4', devices: 2 })] },
  { role: 'mtty-1', note: 'mtty sample (mtty-2, stream header 1.0): a virtual parent, another type', gpus: [gpu({ vendor: 'mtty', typeId: 'mtty-2', typeName: 'Dual port serial', devices: 2, spare: 2 })] },
  {
    role: 'accel-1',
    note: 'accelerator VF (hisi_acc-qm, created with qp=64 svc=sym+asym agg=2): another type',
    gpus: [gpu({ vendor: 'accel', typeId: 'hisi_acc-qm', driverVersion: '2.3', params: { qp: '64', svc: 'sym+asym', agg: '2' }, devices: 4 })],
  },
  { role: 'h100-cordoned', note: 'H100 PCIe, host driver 535.183.01: would accept 535 VMIs, but is cordoned', gpus: [nvidia('535.183.01', 4)], unschedulable: true },
  { role: 'h100-full', note: 'H100 PCIe, host driver 535.161.08: every vGPU is in use', gpus: [nvidia('535.161.08', 2)] },
  { role: 'h100-stale', note: 'H100 PCIe, host driver 550.54.15: its agent stops, so its lease expires', gpus: [nvidia('550.54.15', 4)] },
];

export interface Scenario {
  prefix: string;
  /** Operator namespace: agent Leases, the leader Lease, the webhook's TLS Secret. */
  operatorNamespace: string;
  /** Namespace of the VMIs, MdevMigrations and VMIMs (the only one the demo's webhook gates). */
  namespace: string;
  nodes: FleetNodeSpec[];
  notes: Record<string, string>;
  /** The node whose agent is stopped once it has published its devices. */
  staleNode: string;
  vms: VmPlacement[];
  /** (a) an MdevMigration that succeeds. */
  succeed: { migration: string; vmi: string; expectedTarget: string };
  /** (b) an MdevMigration that fails, with the verdict expected for some nodes. */
  fail: { migration: string; vmi: string; expectedVerdicts: Record<string, string> };
  /** (c) a VMIM created directly, as a drain would: the webhook must pin `expectedTarget`; verdicts of the recorded MdevMigration. */
  evict: { vmim: string; vmi: string; expectedTarget: string; expectedVerdicts: Record<string, string> };
  /** (d) a drain plan of `node`: VMI name to expected target (null = blocked). */
  drain: { node: string; expected: Record<string, string | null> };
}

export interface VmPlacement {
  name: string;
  node: string;
  devices: number;
  typeId: string;
  /** Why the VMI is there, for the progress output. */
  purpose: string;
}

export interface ScenarioOptions {
  /** Prepended to every node name (tests use a unique one). Default ''. */
  prefix?: string;
  operatorNamespace?: string;
  namespace?: string;
}

export function demoScenario(opts: ScenarioOptions = {}): Scenario {
  const prefix = opts.prefix ?? '';
  const n = (role: Role): string => `${prefix}${role}`;
  const nodes: FleetNodeSpec[] = NODES.map((r) => ({
    name: n(r.role),
    labels: { 'mdev-operator.io/demo': 'true' },
    taints: [],
    unschedulable: r.unschedulable ?? false,
    agent: true,
    gpus: r.gpus.map((g) => ({ ...g })),
  }));
  // Whatever the VMI's driver: other types, a cordoned node, a full one, one without an agent.
  const unavailable: Record<string, string> = {
    [n('gvt-1')]: 'TypeMismatch',
    [n('mtty-1')]: 'TypeMismatch',
    [n('accel-1')]: 'TypeMismatch',
    [n('h100-cordoned')]: 'Excluded',
    [n('h100-full')]: 'NoCapacity',
    [n('h100-stale')]: 'AgentUnavailable',
  };
  const vm = (name: string, role: Role, purpose: string, devices = 1): VmPlacement => ({ name, node: n(role), devices, typeId: H100_TYPE, purpose });
  return {
    prefix,
    operatorNamespace: opts.operatorNamespace ?? DEFAULT_NAMESPACE,
    namespace: opts.namespace ?? 'mdev-demo',
    nodes,
    notes: Object.fromEntries(NODES.map((r) => [n(r.role), r.note])),
    staleNode: n('h100-stale'),
    vms: [
      vm('vm-a', 'h100-a', '(a) moved by an MdevMigration'),
      vm('vm-b', 'h100-c', '(b) has nowhere to go'),
      vm('vm-c', 'h100-a', '(c) evicted as a drain would'),
      vm('vm-d', 'h100-a', '(d) in the drain plan'),
      vm('vm-e', 'h100-a', '(d) in the drain plan'),
      vm('vm-f', 'h100-a', '(d) in the drain plan'),
      vm('busy', 'h100-full', 'fills h100-full', 2),
    ],
    succeed: { migration: 'move-vm-a', vmi: 'vm-a', expectedTarget: n('h100-b') },
    fail: {
      migration: 'move-vm-b',
      vmi: 'vm-b',
      expectedVerdicts: { ...unavailable, [n('h100-a')]: 'Incompatible', [n('h100-b')]: 'Incompatible', [n('h100-nvl')]: 'Incompatible' },
    },
    evict: {
      vmim: 'evict-vm-c',
      vmi: 'vm-c',
      expectedTarget: n('h100-b'),
      expectedVerdicts: { ...unavailable, [n('h100-b')]: 'Compatible', [n('h100-c')]: 'Incompatible', [n('h100-nvl')]: 'Incompatible' },
    },
    // h100-b has 4 vGPUs: vm-a and vm-c took two, so the plan fits two more and blocks the third.
    drain: { node: n('h100-a'), expected: { 'vm-d': n('h100-b'), 'vm-e': n('h100-b'), 'vm-f': null } },
  };
}
