// Capacity claims (docs/adr/0016-capacity-claims.md). KubeVirt's device plugin, not the operator,
// picks which free device of a resource the target pod gets, so a migration does not reserve a
// device: it claims units of a (node, pool). The claims of a node live in its MdevNode's
// `status.claims`, written with a JSON merge patch on the status subresource that carries the
// resourceVersion that was read: of two migrations racing for a node's last free unit, the API
// server accepts exactly one write and the other gets 409, re-reads, finds the unit claimed and
// loses. Claims live in the API server, so they survive a controller restart; each has an expiry
// and the sweeper releases those whose migration is gone, failed or done.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { FIELD_MANAGER_CONTROLLER, parseFromWire, type CapacityClaim, type MdevMigration, type MdevNode } from '../api/v1alpha1/index.ts';
import type { CachedDevice, CachedMdevNode } from './cached-objects.ts';
import { mergePatch } from '../kube/apply.ts';
import { describeApiError, isConflict, isNotFound } from '../kube/errors.ts';
import type { Informer } from '../kube/informer.ts';
import { kubeRequest } from '../kube/request.ts';
import { objectKey, resourcePath } from '../kube/resource.ts';
import { mdevPoolKey } from '../kubevirt/device-plugin.ts';
import type { Logger } from '../observability/logger.ts';
import { newerByVersion } from './migration/status-writer.ts';
import { controllerMetrics } from './metrics.ts';
import { MDEV_DEVICES, MDEV_NODES } from './resources.ts';

export interface ClaimOwner {
  namespace: string;
  name: string;
  uid: string;
}

/** Units of one pool a migration needs on its target node. */
export interface ClaimDemand {
  pool: string;
  typeId: string;
  units: number;
}

/**
 * `unclaimable`: the node has no MdevNode to claim on (its agent never published one); retrying cannot help.
 * `seenVersion`: the MdevNode's resourceVersion that showed the loss. The next decision must read an
 * MdevNode cache at least that new, or it would pick the same node again (issue 18).
 */
export type ClaimResult = { ok: true } | { ok: false; pool: string; reason: string; unclaimable?: true; seenVersion?: string };

/** A claim as the caches show it: which node, which pool, how many units, for whom. */
export interface HeldClaim {
  nodeName: string;
  pool: string;
  units: number;
}

const MAX_ATTEMPTS = 3;

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** When a claim lapses; +Infinity for an unparsable expiresAt (it binds until the sweeper decides). */
export function claimExpiresAt(c: Pick<CapacityClaim, 'expiresAt'>): number {
  const t = Date.parse(c.expiresAt);
  return Number.isFinite(t) ? t : Number.POSITIVE_INFINITY;
}

/** The claims of `node` that still bind at `now`. */
export function activeClaims(node: CachedMdevNode, now: number): CapacityClaim[] {
  return (node.status?.claims ?? []).filter((c) => claimExpiresAt(c) > now);
}

/** Free devices of `pool` on `nodeName`: no consumer, any type or state (the plugin may hand out each). */
export function freeInPool(devices: readonly CachedDevice[], nodeName: string, pool: string): number {
  let free = 0;
  for (const d of devices) if (d.spec.nodeName === nodeName && !d.status?.consumer && mdevPoolKey(d.spec.type) === pool) free++;
  return free;
}

export interface ClaimsOptions {
  kc: KubeConfig;
  mdevNodes: Informer<CachedMdevNode>;
  /** Every MdevDevice (the free devices of a pool are counted from it). */
  devices: Informer<CachedDevice>;
  log: Logger;
  now?: () => number;
  /** Called before every write; throwing aborts (a killed manager must stop writing). */
  guard?: () => void;
}

export class CapacityClaims {
  readonly #o: ClaimsOptions;
  /**
   * The MdevNode each of our writes returned, until the informer shows that version: a claim
   * followed at once by its check, or a release followed by the next reconcile's, would otherwise
   * read the older cached node and spend a conflicting write and a GET to learn what we wrote.
   */
  readonly #written = new Map<string, CachedMdevNode>();

  constructor(opts: ClaimsOptions) {
    this.#o = opts;
  }

  /**
   * Claims every demand on `nodeName` for `owner` in one write, or none: a pool without enough
   * unclaimed units loses. Idempotent: an identical claim of the owner is kept without a write;
   * the owner's claims on the node are replaced by these.
   */
  async claim(owner: ClaimOwner, nodeName: string, demands: readonly ClaimDemand[], expiresAt: number): Promise<ClaimResult> {
    let node: CachedMdevNode | undefined = this.#cached(nodeName) ?? (await this.#read(nodeName));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!node) return { ...this.#lost(demands[0]?.pool ?? '', `MdevNode ${nodeName} does not exist: the agent of ${nodeName} has not published its node, so no capacity can be claimed there`), unclaimable: true } as ClaimResult;
      const now = this.#now();
      const others = activeClaims(node, now).filter((c) => c.migration.uid !== owner.uid);
      const short = this.#shortage(nodeName, demands, others);
      if (short) return this.#lost(short.pool, short.reason, node.metadata.resourceVersion);
      const mine = (node.status?.claims ?? []).filter((c) => c.migration.uid === owner.uid);
      const next = demands.map((d): CapacityClaim => ({
        migration: { namespace: owner.namespace, name: owner.name, uid: owner.uid },
        pool: d.pool,
        typeId: d.typeId,
        units: d.units,
        claimedAt: mine.find((c) => c.pool === d.pool)?.claimedAt ?? rfc3339(now),
        expiresAt: rfc3339(expiresAt),
      }));
      if (sameClaims(mine, next)) return { ok: true };
      try {
        // Expired claims of others go with this write: it holds the node's resourceVersion.
        await this.#patch(nodeName, [...others, ...next], node.metadata.resourceVersion);
        controllerMetrics.claims.inc({ result: 'won' });
        return { ok: true };
      } catch (err) {
        if (isNotFound(err)) return this.#lost(demands[0]?.pool ?? '', `MdevNode ${nodeName} was deleted while claiming on it`);
        if (!isConflict(err)) throw err;
        // Someone wrote the node since we read it (maybe a racing claim): read again and re-check.
        node = await this.#read(nodeName);
      }
    }
    return this.#lost(demands[0]?.pool ?? '', `MdevNode ${nodeName} kept changing while claiming on it (resourceVersion conflicts)`, node?.metadata.resourceVersion);
  }

  /** Removes `ownerUid`'s claims from `nodeName`; true when none is left there. */
  async release(ownerUid: string, nodeName: string): Promise<boolean> {
    let node: CachedMdevNode | undefined = this.#cached(nodeName);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!node) node = await this.#read(nodeName);
      const claims = node?.status?.claims ?? [];
      if (!node || !claims.some((c) => c.migration.uid === ownerUid)) return true;
      try {
        this.#o.guard?.();
        await this.#patch(nodeName, claims.filter((c) => c.migration.uid !== ownerUid), node.metadata.resourceVersion);
        controllerMetrics.claims.inc({ result: 'released' });
        return true;
      } catch (err) {
        if (isNotFound(err)) return true;
        if (!isConflict(err)) throw err;
        node = await this.#read(nodeName);
      }
    }
    this.#o.log.warn('Could not release a capacity claim after repeated conflicts; the sweeper retries', { node: nodeName, migrationUid: ownerUid });
    return false;
  }

  /** Releases every claim the cache shows for `ownerUid`; returns the nodes released. */
  async releaseAll(ownerUid: string): Promise<number> {
    let released = 0;
    for (const nodeName of new Set(this.heldBy(ownerUid).map((c) => c.nodeName))) if (await this.release(ownerUid, nodeName)) released++;
    return released;
  }

  /** The claims the cache shows for `ownerUid`, by node and pool. */
  heldBy(ownerUid: string): HeldClaim[] {
    const out: HeldClaim[] = [];
    for (const cached of this.#o.mdevNodes.list()) {
      const n = this.#cached(cached.metadata.name) ?? cached;
      for (const c of n.status?.claims ?? []) if (c.migration.uid === ownerUid) out.push({ nodeName: n.metadata.name, pool: c.pool, units: c.units });
    }
    return out.sort((a, b) => (a.nodeName < b.nodeName ? -1 : a.nodeName > b.nodeName ? 1 : a.pool < b.pool ? -1 : 1));
  }

  /** The first demand the node's unclaimed units cannot meet, with why. */
  #shortage(nodeName: string, demands: readonly ClaimDemand[], others: readonly CapacityClaim[]): { pool: string; reason: string } | undefined {
    const devices = this.#o.devices.list();
    for (const d of demands) {
      const free = freeInPool(devices, nodeName, d.pool);
      const claimed = others.filter((c) => c.pool === d.pool).reduce((n, c) => n + c.units, 0);
      if (free - claimed >= d.units) continue;
      const left = Math.max(0, free - claimed);
      return { pool: d.pool, reason: `pool ${d.pool} on ${nodeName} has ${left} unclaimed unit${left === 1 ? '' : 's'} for ${d.units} wanted (${free} free, ${claimed} claimed by other migrations)` };
    }
    return undefined;
  }

  #lost(pool: string, reason: string, seenVersion?: string): ClaimResult {
    controllerMetrics.claims.inc({ result: 'lost' });
    return { ok: false, pool, reason, ...(seenVersion ? { seenVersion } : {}) };
  }

  async #patch(nodeName: string, claims: CapacityClaim[], resourceVersion: string | undefined): Promise<void> {
    this.#o.guard?.();
    const body: Record<string, unknown> = { status: { claims } };
    if (resourceVersion) body.metadata = { resourceVersion };
    const stored = parseFromWire('MdevNode', await mergePatch(this.#o.kc, MDEV_NODES, { name: nodeName }, body, { subresource: 'status', fieldManager: FIELD_MANAGER_CONTROLLER }), this.#o.log);
    if (stored) this.#written.set(nodeName, stored);
  }

  /** The cached node, or the one our last write returned while the cache has not caught up. */
  #cached(nodeName: string): CachedMdevNode | undefined {
    const cached = this.#o.mdevNodes.get(nodeName);
    const written = this.#written.get(nodeName);
    if (!written) return cached;
    if (!cached || newerByVersion(cached, written) === cached) {
      // Caught up (or the node is gone): the cache speaks for it again.
      this.#written.delete(nodeName);
      return cached;
    }
    return written;
  }

  async #read(nodeName: string): Promise<MdevNode | undefined> {
    try {
      return parseFromWire('MdevNode', await kubeRequest(this.#o.kc, { method: 'GET', path: resourcePath(MDEV_NODES, { name: nodeName }) }), this.#o.log);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      this.#o.log.warn('Failed to read MdevNode', { node: nodeName, error: describeApiError(err) });
      throw err;
    }
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }
}

function sameClaims(a: readonly CapacityClaim[], b: readonly CapacityClaim[]): boolean {
  if (a.length !== b.length) return false;
  return b.every((x) => a.some((y) => y.pool === x.pool && y.units === x.units && y.typeId === x.typeId && y.expiresAt === x.expiresAt));
}

// ---------------------------------------------------------------------------------------------
// Sweeper: which claims no longer serve a live migration (pure), and the loop that releases them.
// ---------------------------------------------------------------------------------------------

export interface StaleClaim {
  nodeName: string;
  ownerUid: string;
  reason: string;
}

export interface ClaimSweepInput {
  mdevNodes: readonly CachedMdevNode[];
  /** By `namespace/name`. */
  migration: (key: string) => MdevMigration | undefined;
  now: number;
  /** A succeeded migration's claim is dropped this long after success even if its device was never seen (default 60 s). */
  settleGraceMs?: number;
}

export function staleClaims(input: ClaimSweepInput): StaleClaim[] {
  const out: StaleClaim[] = [];
  for (const n of input.mdevNodes) {
    const seen = new Set<string>();
    for (const c of n.status?.claims ?? []) {
      if (seen.has(c.migration.uid)) continue;
      const reason = staleReason(n.metadata.name, c, input);
      if (reason) {
        seen.add(c.migration.uid);
        out.push({ nodeName: n.metadata.name, ownerUid: c.migration.uid, reason });
      }
    }
  }
  return out;
}

function staleReason(nodeName: string, c: CapacityClaim, input: ClaimSweepInput): string | undefined {
  const m = input.migration(objectKey(c.migration.namespace, c.migration.name));
  if (!m || m.metadata.uid !== c.migration.uid) return `MdevMigration ${c.migration.namespace}/${c.migration.name} (uid ${c.migration.uid}) is gone`;
  if (claimExpiresAt(c) <= input.now) return `claim expired at ${c.expiresAt}`;
  const phase = m.status?.phase;
  if (phase === 'Failed') return 'its migration failed';
  if (m.status?.targetNode && m.status.targetNode !== nodeName && phase !== 'Probing') return `its migration now targets ${m.status.targetNode}`;
  if (phase === 'Succeeded') {
    // The VMI holds its devices now; once the agent showed which (recorded in status), the units
    // are consumed. A device never seen must not block capacity for long.
    if ((m.status?.devices ?? []).every((p) => p.target)) return 'its migration succeeded and the VMI holds its devices';
    const since = Date.parse(m.status?.conditions?.find((x) => x.type === 'Ready')?.lastTransitionTime ?? '');
    if (Number.isFinite(since) && input.now - since > (input.settleGraceMs ?? 60_000)) return 'its migration succeeded and its devices were not seen in time';
  }
  return undefined;
}

export interface ClaimSweeperOptions {
  claims: CapacityClaims;
  mdevNodes: Informer<CachedMdevNode>;
  migrations: Informer<MdevMigration>;
  log: Logger;
  now?: () => number;
  settleGraceMs?: number;
}

/** One sweep: releases every stale claim; returns how many were released. */
export async function sweepClaims(opts: ClaimSweeperOptions): Promise<number> {
  const stale = staleClaims({
    mdevNodes: opts.mdevNodes.list(),
    migration: (key) => opts.migrations.get(key),
    now: opts.now?.() ?? Date.now(),
    settleGraceMs: opts.settleGraceMs,
  });
  let released = 0;
  for (const s of stale) {
    try {
      if (await opts.claims.release(s.ownerUid, s.nodeName)) {
        released++;
        opts.log.info('Released a stale capacity claim', { node: s.nodeName, migrationUid: s.ownerUid, reason: s.reason });
      }
    } catch (err) {
      opts.log.warn('Failed to release a stale capacity claim; retrying on the next sweep', { node: s.nodeName, error: describeApiError(err) });
    }
  }
  return released;
}

/**
 * Clears `status.reservation` that a controller from before capacity claims left on a device (the
 * field is deprecated and never written now), so such a device is not mistaken for a reserved one
 * by tools that still read it.
 */
export async function clearLegacyReservations(kc: KubeConfig, devices: readonly CachedDevice[], log: Logger, guard?: () => void): Promise<number> {
  let cleared = 0;
  for (const d of devices) {
    if (!d.status?.reservation) continue;
    try {
      guard?.();
      await mergePatch(kc, MDEV_DEVICES, { name: d.metadata.name }, { metadata: { resourceVersion: d.metadata.resourceVersion }, status: { reservation: null } }, { subresource: 'status', fieldManager: FIELD_MANAGER_CONTROLLER });
      cleared++;
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) log.warn('Failed to clear a legacy device reservation', { device: d.metadata.name, error: describeApiError(err) });
    }
  }
  return cleared;
}
