// Simulated vendor drivers: pure functions that produce a device's migration_version and decide
// a write into it the way the modelled driver would. No I/O; FakeSysfs wires them to a tree.
import type { CreationParam } from '../../../src/sysfs/inventory.ts';

export interface GvtExactConfig {
  name: 'gvt-exact';
  /** GVT's migration software version (default 1). */
  softwareVersion?: number;
  /** false models a non-gen8/9 platform: read and write fail with ENODEV. */
  supported?: boolean;
}

export interface NvidiaBranchConfig {
  name: 'nvidia-branch';
  /** Board SKU, e.g. `H100-PCIE-80GB`; live migration never crosses boards. */
  board: string;
  /** Host driver version, e.g. `550.54.15`; the major number is the branch. */
  hostDriver: string;
  /** The vGPU version this host's devices carry, e.g. 0x12. */
  vgpuVersion: number;
  /** The vGPU versions this host accepts, inclusive, e.g. [0x10, 0x13]. */
  vgpuRange: [number, number];
  /** Require the exact host driver version (RHEL note), not just same branch and newer target. */
  strict?: boolean;
}

export interface MttyStreamConfig {
  name: 'mtty-stream';
  /** Stream header version `major.minor` (default `1.0`). */
  streamVersion?: string;
  /** Header flags (default 0; non-zero is refused by the target). */
  flags?: number;
  /** Ports in the shared pool (MAX_MTTYS, default 24). */
  poolPorts?: number;
}

export interface AccelConfigConfig {
  name: 'accel-config';
  /** Migration-driver magic (default `v2`). */
  magic?: string;
  /** Migration-driver version `major.minor`, e.g. `2.3`. */
  driverVersion: string;
  /** Defaults for creation parameters the device was created without. */
  defaults?: { qp?: string; svc?: string; agg?: string };
}

export type PolicySpec = GvtExactConfig | NvidiaBranchConfig | MttyStreamConfig | AccelConfigConfig;
export type PolicyName = PolicySpec['name'];

/** The simulated parent (or vendor VF) a policy answers for. */
export interface ParentConfig<C extends PolicySpec = PolicySpec> {
  address: string;
  vendorId?: string;
  deviceId?: string;
  driver?: string;
  policy: C;
}

/** The device (or type slot) being written to. */
export interface LocalConfig<C extends PolicySpec = PolicySpec> {
  parent: ParentConfig<C>;
  typeId: string;
  creationParams: CreationParam[];
}

/** A driver refusal: the errno `store`/`show` would return and what it would log to syslog. */
export interface PolicyRefusal {
  errno: string;
  reason: string;
}

export type Acceptance = { ok: true } | PolicyRefusal;

export interface VendorPolicy<C extends PolicySpec> {
  /** The attribute's contents (without the trailing newline), or ENODEV when unsupported. */
  version(parent: ParentConfig<C>, typeId: string, creationParams: CreationParam[]): string | PolicyRefusal;
  /** The driver's decision on a write of `source` into the local attribute. */
  accept(local: LocalConfig<C>, source: string): Acceptance;
  /** Instances still creatable, when the driver derives it from a shared pool. */
  available?(parent: ParentConfig<C>, typeId: string, used: ReadonlyMap<string, number>): number;
}

export const ACCEPTED: Acceptance = { ok: true };

export function isRefusal(v: unknown): v is PolicyRefusal {
  return typeof v === 'object' && v !== null && 'errno' in v;
}

export function einval(reason: string): PolicyRefusal {
  return { errno: 'EINVAL', reason };
}
