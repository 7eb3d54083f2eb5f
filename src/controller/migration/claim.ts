// Step: make the chosen node's capacity ours. Devices to create (allowCreateTarget) are created
// first — a created device joins the pool like any free one — then the units of each pool are
// claimed on the node's MdevNode in one compare-and-swap write (claims.ts): of two migrations
// racing for the last free unit exactly one wins, the other decides again. A node whose agent
// refuses to create is remembered in status.failedTargets, so the next plan moves on.
import { createHash } from 'node:crypto';
import { LIMITS, type DevicePair, type MdevMigration } from '../../api/v1alpha1/index.ts';
import { mdevPoolKey } from '../../kubevirt/device-plugin.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import type { DecisionResult } from '../decision.ts';
import { claimDemands, decisionStatus, devicePairs, phaseStatus } from '../migration-status.ts';
import type { StepContext } from './context.ts';
import { withFailedTarget } from './outcome.ts';
import { startMigration } from './start.ts';

export async function claimAndStart(ctx: StepContext, m: MdevMigration, d: DecisionResult): Promise<ReconcileResult | void> {
  const chosen = d.chosen?.node as string;
  const created = await createTargets(ctx, m, d);
  if ('reason' in created) {
    const extra = created.node ? { failedTargets: withFailedTarget(m, { node: created.node, reason: created.reason }) } : {};
    m = await ctx.status.patch(m, { ...decisionStatus(d), ...extra, message: `${created.reason}${created.node ? '; trying the next candidate' : ''}` });
    ctx.event(m, 'Warning', 'TargetCreationFailed', created.reason);
    return { requeueAfter: created.node ? 1 : 2000 };
  }
  const pairs = withVerified(ctx, chosen, devicePairs(d, created.devices), d);
  const typeOf = new Map((d.source?.devices ?? []).map((s) => [s.name, s.typeId]));
  const claim = await ctx.o.claims.claim(ctx.owner(m), chosen, claimDemands(pairs, (s) => typeOf.get(s)), ctx.claimExpiry(m));
  if (!claim.ok) {
    if (claim.unclaimable) {
      await ctx.status.patch(m, { ...decisionStatus(d), failedTargets: withFailedTarget(m, { node: chosen, reason: claim.reason }), message: `${claim.reason}; trying the next candidate` });
      ctx.event(m, 'Warning', 'ClaimLost', claim.reason);
      return { requeueAfter: 1 };
    }
    // Another migration won the last unit, or the pool shrank: decide again once the cache shows
    // that write, backing off per key (the workqueue's rate limiter), not at a fixed pace.
    ctx.event(m, 'Normal', 'ClaimLost', `Could not claim pool ${claim.pool} on ${chosen}: ${claim.reason}; deciding again`);
    ctx.rememberLoss(m, { node: chosen, ...(claim.seenVersion ? { seenVersion: claim.seenVersion } : {}) });
    return { requeue: true };
  }
  const attempt = (m.status?.attempts ?? 0) + 1;
  const units = pairs.length;
  const message = `Claimed ${units} device${units === 1 ? '' : 's'} of pool${new Set(pairs.map((p) => p.pool)).size === 1 ? '' : 's'} ${[...new Set(pairs.map((p) => p.pool))].join(', ')} on ${chosen} for attempt ${attempt}`;
  try {
    m = await ctx.status.patch(m, {
      ...phaseStatus(m, { phase: 'Planned', reason: 'Claimed', message }, ctx.now()),
      ...decisionStatus(d),
      targetNode: chosen,
      devices: pairs,
      attempts: attempt,
    });
  } catch (err) {
    if ((err as Error).name !== 'ManagerKilledError') await ctx.o.claims.releaseAll(m.metadata.uid ?? '').catch(() => undefined);
    throw err;
  }
  ctx.event(m, 'Normal', 'Claimed', message);
  return startMigration(ctx, m);
}

/** Devices to create on the target (allowCreateTarget): asks its agent, returns source → new device. */
async function createTargets(ctx: StepContext, m: MdevMigration, d: DecisionResult): Promise<{ devices: Map<string, string> } | { reason: string; node?: string }> {
  const devices = new Map<string, string>();
  const sources = new Map((d.source?.devices ?? []).map((s) => [s.name, s]));
  for (const pair of d.assignment) {
    if (pair.target.kind !== 'slot') continue;
    const source = sources.get(pair.source);
    if (!source) return { reason: `source device ${pair.source} vanished while planning` };
    const params = ctx.caches.devices.get(pair.source)?.spec.creationParams;
    ctx.o.guard?.();
    const outcome = await ctx.o.probes.createDuplicate(
      {
        nodeName: pair.target.nodeName,
        typeId: pair.target.typeId,
        sourceVersion: source.version,
        parent: pair.target.parentAddress,
        uuid: duplicateUuid(m.metadata.uid ?? '', pair.source),
        ...(params ? { creationParams: params } : {}),
      },
      ctx.o.createTimeoutMs ?? 20_000,
    );
    if ('reason' in outcome) return { reason: `could not create a duplicate of ${pair.source} on ${pair.target.nodeName}: ${outcome.reason}`, node: pair.target.nodeName };
    devices.set(pair.source, outcome.device);
  }
  return { devices };
}

/** A deterministic mdev UUID for the duplicate of `sourceDevice` made for migration `uid`. */
export function duplicateUuid(migrationUid: string, sourceDevice: string): string {
  const h = createHash('sha256').update(`${migrationUid}\0${sourceDevice}`).digest('hex');
  const variant = ((parseInt(h[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * Each pair with the free devices of its pool on `node` whose class the verdict cache says accepts
 * the source, as of now: settling compares the device the VMI gets with these by name, because a
 * backend whose strings describe a running device (nvml: Instance vs Class) changes both strings
 * once the VMI moved, so its verdict cannot be looked up again afterwards.
 */
function withVerified(ctx: StepContext, node: string, pairs: DevicePair[], d: DecisionResult): DevicePair[] {
  const sources = new Map((d.source?.devices ?? []).map((s) => [s.name, s]));
  const free = ctx.caches.devices.list().filter((x) => x.spec.nodeName === node && !x.status?.consumer && x.status?.migratable && x.status.migrationVersion !== undefined);
  return pairs.map((p) => {
    const src = sources.get(p.source);
    if (!src) return p;
    const verified = free
      .filter((x) => mdevPoolKey(x.spec.type) === p.pool && x.spec.type.id === src.typeId && ctx.o.decisions.cache.get(src.typeId, src.version, x.status?.migrationVersion as string)?.accepted === true)
      .map((x) => x.metadata.name)
      .sort()
      .slice(0, LIMITS.verifiedTargets);
    return verified.length > 0 ? { ...p, verified } : p;
  });
}
