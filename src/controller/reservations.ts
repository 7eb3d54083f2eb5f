// Atomic reservation of target devices (docs/architecture.md, "Reservations"): a JSON merge patch
// on the MdevDevice status subresource that carries the resourceVersion we read, so of two racing
// writers the API server accepts exactly one and the other gets 409. A VMI with several devices
// reserves them in name order and rolls back on the first loss. Reservations live in the API
// server, so they survive a controller restart; the sweeper releases those whose migration died.
import type { KubeConfig } from '@kubernetes/client-node';
import { FIELD_MANAGER_CONTROLLER, parseFromWire, type MdevDevice, type MdevMigration, type Reservation } from '../api/v1alpha1/index.ts';
import { mergePatch } from '../kube/apply.ts';
import { describeApiError, isConflict, isNotFound } from '../kube/errors.ts';
import type { Informer } from '../kube/informer.ts';
import { kubeRequest } from '../kube/request.ts';
import { objectKey, resourcePath } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import { controllerMetrics } from './metrics.ts';
import { MDEV_DEVICES } from './resources.ts';
import { reservationActive } from './snapshot.ts';

export interface ReservationOwner {
  namespace: string;
  name: string;
  uid: string;
}

/**
 * A loss names the device and the resourceVersion at which it was seen taken: the next plan must
 * read a device cache at least that new, or it would pick the same device again (issue 18).
 */
export type ReserveResult = { ok: true; devices: string[] } | { ok: false; device: string; reason: string; seenVersion?: string };

export interface ReservationsOptions {
  kc: KubeConfig;
  devices: Informer<MdevDevice>;
  log: Logger;
  now?: () => number;
  /** Called before every write; throwing aborts (a killed manager must stop writing). */
  guard?: () => void;
}

const MAX_ATTEMPTS = 3;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Why `device` cannot be reserved by `owner` now, or undefined if it can (or already is). */
export function reservationBlocker(device: MdevDevice, ownerUid: string, now: number): string | undefined {
  const consumer = device.status?.consumer;
  if (consumer) return `in use by ${consumer.kind} ${consumer.namespace}/${consumer.name}`;
  const r = device.status?.reservation;
  if (r && r.migration.uid !== ownerUid && reservationActive(device, now)) {
    return `reserved by MdevMigration ${r.migration.namespace}/${r.migration.name}`;
  }
  return undefined;
}

export class Reservations {
  readonly #o: ReservationsOptions;

  constructor(opts: ReservationsOptions) {
    this.#o = opts;
  }

  /** Reserves every device (name order) for `owner`, or none: a loss rolls back what was taken. */
  async reserve(owner: ReservationOwner, targetNode: string, deviceNames: readonly string[], expiresAt: number): Promise<ReserveResult> {
    const names = [...new Set(deviceNames)].sort();
    const taken: string[] = [];
    for (const name of names) {
      const lost = await this.#reserveOne(owner, targetNode, name, expiresAt);
      if (lost !== undefined) {
        controllerMetrics.reservations.inc({ result: 'lost' });
        for (const done of taken.reverse()) await this.release(owner.uid, done);
        return { ok: false, device: name, reason: lost.reason, ...(lost.seenVersion ? { seenVersion: lost.seenVersion } : {}) };
      }
      taken.push(name);
    }
    controllerMetrics.reservations.inc({ result: 'won' }, names.length);
    return { ok: true, devices: names };
  }

  /** Clears `name`'s reservation if `ownerUid` holds it; true when it is (now) not held by the owner. */
  async release(ownerUid: string, name: string): Promise<boolean> {
    let device = this.#o.devices.get(name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!device) device = await this.#read(name);
      if (!device || device.status?.reservation?.migration.uid !== ownerUid) return true;
      try {
        this.#o.guard?.();
        await this.#patch(name, null, device.metadata.resourceVersion);
        controllerMetrics.reservations.inc({ result: 'released' });
        return true;
      } catch (err) {
        if (isNotFound(err)) return true;
        if (!isConflict(err)) throw err;
        device = await this.#read(name);
      }
    }
    this.#o.log.warn('Could not release a reservation after repeated conflicts; the sweeper retries', { device: name });
    return false;
  }

  /** Releases every device the cache shows reserved by `ownerUid`. */
  async releaseAll(ownerUid: string): Promise<number> {
    let released = 0;
    for (const name of this.heldBy(ownerUid)) if (await this.release(ownerUid, name)) released++;
    return released;
  }

  /** Device names the cache shows reserved by `ownerUid`, sorted. */
  heldBy(ownerUid: string): string[] {
    return this.#o.devices
      .list()
      .filter((d) => d.status?.reservation?.migration.uid === ownerUid)
      .map((d) => d.metadata.name)
      .sort();
  }

  /** undefined when reserved (or already ours); otherwise why the device was lost, and at which version. */
  async #reserveOne(owner: ReservationOwner, targetNode: string, name: string, expiresAt: number): Promise<{ reason: string; seenVersion?: string } | undefined> {
    let device = this.#o.devices.get(name) ?? (await this.#read(name));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!device) return { reason: `MdevDevice ${name} no longer exists` };
      const now = this.#now();
      const blocker = reservationBlocker(device, owner.uid, now);
      if (blocker) return { reason: `MdevDevice ${name} is ${blocker}`, ...(device.metadata.resourceVersion ? { seenVersion: device.metadata.resourceVersion } : {}) };
      if (device.status?.reservation?.migration.uid === owner.uid && device.status.reservation.expiresAt === rfc3339(expiresAt)) return undefined;
      const reservation: Reservation = {
        migration: { namespace: owner.namespace, name: owner.name, uid: owner.uid },
        targetNode,
        reservedAt: device.status?.reservation?.migration.uid === owner.uid ? device.status.reservation.reservedAt : rfc3339(now),
        expiresAt: rfc3339(expiresAt),
      };
      try {
        this.#o.guard?.();
        await this.#patch(name, reservation, device.metadata.resourceVersion);
        return undefined;
      } catch (err) {
        if (isNotFound(err)) return { reason: `MdevDevice ${name} no longer exists` };
        if (!isConflict(err)) throw err;
        // Our read was stale: someone wrote the device. Re-read; if it is still free, try again.
        device = await this.#read(name);
      }
    }
    const seenVersion = device?.metadata.resourceVersion;
    return { reason: `MdevDevice ${name} kept changing while reserving it (resourceVersion conflicts)`, ...(seenVersion ? { seenVersion } : {}) };
  }

  async #patch(name: string, reservation: Reservation | null, resourceVersion: string | undefined): Promise<void> {
    const body: Record<string, unknown> = { status: { reservation } };
    if (resourceVersion) body.metadata = { resourceVersion };
    await mergePatch(this.#o.kc, MDEV_DEVICES, { name }, body, { subresource: 'status', fieldManager: FIELD_MANAGER_CONTROLLER });
  }

  async #read(name: string): Promise<MdevDevice | undefined> {
    try {
      return parseFromWire('MdevDevice', await kubeRequest(this.#o.kc, { method: 'GET', path: resourcePath(MDEV_DEVICES, { name }) }), this.#o.log);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      this.#o.log.warn('Failed to read MdevDevice', { device: name, error: describeApiError(err) });
      throw err;
    }
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }
}

// ---------------------------------------------------------------------------------------------
// Sweeper: which reservations no longer serve a live migration (pure), and the loop that
// releases them.
// ---------------------------------------------------------------------------------------------

export interface StaleReservation {
  device: string;
  ownerUid: string;
  reason: string;
}

export interface SweepInput {
  devices: readonly MdevDevice[];
  /** By `namespace/name`. */
  migration: (key: string) => MdevMigration | undefined;
  now: number;
  /** A reservation not (yet) named in its migration's status is left alone this long (default 60 s). */
  orphanGraceMs?: number;
}

export function staleReservations(input: SweepInput): StaleReservation[] {
  const out: StaleReservation[] = [];
  for (const d of input.devices) {
    const r = d.status?.reservation;
    if (!r) continue;
    const reason = staleReason(d, r, input);
    if (reason) out.push({ device: d.metadata.name, ownerUid: r.migration.uid, reason });
  }
  return out;
}

function staleReason(d: MdevDevice, r: Reservation, input: SweepInput): string | undefined {
  const m = input.migration(objectKey(r.migration.namespace, r.migration.name));
  if (!m || m.metadata.uid !== r.migration.uid) return `MdevMigration ${r.migration.namespace}/${r.migration.name} (uid ${r.migration.uid}) is gone`;
  if (!reservationActive(d, input.now)) return `reservation expired at ${r.expiresAt}`;
  const phase = m.status?.phase;
  if (phase === 'Failed') return 'its migration failed';
  if (phase === 'Succeeded') {
    if (d.status?.consumer) return `consumed by ${d.status.consumer.namespace}/${d.status.consumer.name} after the migration succeeded`;
    // KubeVirt's device plugin may have given the VMI another device of the type: once the agent
    // had time to publish the consumer, an unused reservation only blocks capacity.
    const since = Date.parse(m.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '');
    if (Number.isFinite(since) && input.now - since > (input.orphanGraceMs ?? 60_000)) return 'its migration succeeded and the device stayed unused';
    return undefined;
  }
  const named = (m.status?.devices ?? []).some((p) => p.target === d.metadata.name);
  const age = input.now - Date.parse(r.reservedAt);
  if (!named && age > (input.orphanGraceMs ?? 60_000)) return 'not a target of its migration any more';
  return undefined;
}

export interface SweeperOptions {
  reservations: Reservations;
  devices: Informer<MdevDevice>;
  migrations: Informer<MdevMigration>;
  log: Logger;
  now?: () => number;
  orphanGraceMs?: number;
}

/** One sweep: releases every stale reservation; returns how many were released. */
export async function sweepReservations(opts: SweeperOptions): Promise<number> {
  const stale = staleReservations({
    devices: opts.devices.list(),
    migration: (key) => opts.migrations.get(key),
    now: opts.now?.() ?? Date.now(),
    orphanGraceMs: opts.orphanGraceMs,
  });
  let released = 0;
  for (const s of stale) {
    try {
      if (await opts.reservations.release(s.ownerUid, s.device)) {
        released++;
        opts.log.info('Released a stale reservation', { device: s.device, reason: s.reason });
      }
    } catch (err) {
      opts.log.warn('Failed to release a stale reservation; retrying on the next sweep', { device: s.device, error: describeApiError(err) });
    }
  }
  return released;
}
