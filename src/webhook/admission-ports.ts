// What the VMIM admission logic needs from the rest of the operator, as small interfaces: a cache
// lookup of the VMI and its devices, a placement decision, reservations of target devices and the
// MdevMigration record. The logic (vmim-admission.ts) is then testable with plain fakes, and the
// controller process plugs in its informers, decision service and reservation code.
import type { MdevMigrationStatus } from '../api/v1alpha1/index.ts';
import type { Vmi } from '../kubevirt/types.ts';
import type { NodeExplanation, Verdict } from '../placement/index.ts';

export const ADMISSION_MODES = ['enforce', 'warn', 'off'] as const;
/** enforce: deny unsafe VMIMs; warn: admit them with a warning; off: admit everything untouched. */
export type AdmissionMode = (typeof ADMISSION_MODES)[number];

/** A VMI as the cache knows it, with the MdevDevices whose consumer uid is the VMI's uid. */
export interface VmiFacts {
  vmi: Vmi;
  /** MdevDevice names; empty = no published device names the VMI as its consumer. */
  deviceNames: readonly string[];
  /**
   * Its `gpus[]`/`hostDevices[]` requests whose resource name is a mediated device type the cluster
   * knows (an MdevDevice's type), e.g. `gpus[0] gpu0 (nvidia.com/GRID_H100-4C)`: a VMI with such a
   * request but no published device must not be admitted unverified.
   */
  mdevRequests: readonly string[];
}

export interface VmiLookup {
  /** Synchronous cache read; undefined when the VMI is unknown. Throws when the cache is not synced. */
  lookup(namespace: string, name: string): VmiFacts | undefined;
  /** The VMI read from the API server, for one the cache does not hold (it may lag a VMI started seconds ago); undefined when it does not exist. */
  fetch?(namespace: string, name: string): Promise<VmiFacts | undefined>;
  /** Caches that may be behind the API server right now (ControllerCaches.currency); empty = current. */
  behind?(): readonly string[];
}

export interface DecideRequest {
  vmi: Vmi;
  /** Restrict the decision to these nodes (a VMIM that pins one); absent = any node. */
  targetNodes?: readonly string[];
  /** Wall-clock budget for the whole decision, probes included. */
  budgetMs: number;
  /** May the decision probe unknown version classes (and confirm cached verdicts)? */
  probe: boolean;
  signal?: AbortSignal;
}

/** One source device and the pool it moves into on the chosen node (KubeVirt's device plugin picks the device). */
export interface DeviceAssignment {
  source: string;
  pool: string;
  typeId: string;
}

export interface AdmissionDecision {
  /** The VMI's node ('' when it runs nowhere). */
  sourceNode: string;
  /** Set only when the target is verified (every chosen device confirmed by its agent or, without probing, by the cache). */
  chosen?: { node: string; devices: DeviceAssignment[] };
  /** Chosen first, then by verdict, then by node name; every node but the source. */
  explanations: NodeExplanation[];
  totals: Record<Verdict, number>;
  /** Probe requests this decision cost. */
  probes: number;
  /** Why nothing was chosen ('' when something was). */
  reason: string;
  decisionMillis: number;
  /** True when the best node rests on verdicts no probe of the exact targets confirmed (read-only tools). */
  unconfirmed?: boolean;
}

export interface Decider {
  decide(req: DecideRequest): Promise<AdmissionDecision>;
}

export interface MigrationRef {
  namespace: string;
  name: string;
  uid: string;
}

/** A concurrent migration took the last unit of a pool (or the pool shrank) first. */
export class ReservationLostError extends Error {
  readonly pool: string;
  constructor(pool: string, message: string) {
    super(message);
    this.name = 'ReservationLostError';
    this.pool = pool;
  }
}

export interface Reserver {
  /** Claims the chosen node's units of every device's pool for `migration`, all or none; throws ReservationLostError when short. */
  reserve(migration: MigrationRef, targetNode: string, devices: readonly DeviceAssignment[]): Promise<void>;
  /** Releases `migration`'s claims on `targetNode`; others' are left alone. */
  release(migration: MigrationRef, targetNode: string): Promise<void>;
}

/** Between node names and the `kubernetes.io/hostname` label values VMIMs pin with (they may differ). */
export interface NodeNames {
  /** The hostname label value of `node`; undefined when the node or its label is unknown. */
  hostnameOf(node: string): string | undefined;
  /** The node whose hostname label is `value`; undefined when none is known. */
  nodeOf(value: string): string | undefined;
}

/** The MdevMigration an admitted VMIM is recorded as. */
export interface MigrationRecord {
  namespace: string;
  name: string;
  vmiName: string;
  /** The VMIM's name ('' while the API server has yet to generate it from generateName). */
  vmimName: string;
  targetNodes?: readonly string[];
}

export interface MigrationRecorder {
  /** Creates the MdevMigration; an unlinked one from an earlier try of the same admission is adopted. */
  create(record: MigrationRecord): Promise<MigrationRef>;
  /** Writes the decision into status (phase Migrating). */
  recordDecision(ref: MigrationRef, status: MdevMigrationStatus): Promise<void>;
  /** Deletes a record whose VMIM will not exist (rollback). */
  remove(ref: MigrationRef): Promise<void>;
  /** The recorded target node of an MdevMigration, for the validating check. */
  targetNodeOf(namespace: string, name: string): Promise<{ vmiName: string; targetNode?: string } | undefined>;
  /** An MdevMigration as a VMIM's owner reference is checked against: from the cache, or (`fresh`) from the API server. */
  migration(namespace: string, name: string, fresh: boolean): Promise<MigrationFacts | undefined>;
}

/** What the owner check reads of an MdevMigration. */
export interface MigrationFacts {
  uid: string;
  vmiName: string;
  targetNode?: string;
  attempts?: number;
  /** A record the webhook made for an admitted VMIM (label origin=admission), not a migration the controller drives. */
  admission: boolean;
}
