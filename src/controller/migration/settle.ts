// Step after success: which device did the VMI actually get? KubeVirt's device plugin picked it
// from the pool, so the operator records it (status.devices[].target, from the target agent's
// consumer report) and checks that its version class accepted the source: by name against the
// free devices verified when the target was claimed (status.devices[].verified), else from the
// verdict cache, else one probe of that device. A device outside an accepted class (the pool changed under the
// migration: a device appeared or was republished with another string) is flagged with the
// TargetDeviceVerified=False condition and a Warning Event. Then the claims are released: the
// VMI holds its units now. If the agent does not show the device within the grace period, the
// claims go anyway and the condition stays Unknown. When the agent shows it before the VMIM's
// success is written, follow.ts writes the settlement with Succeeded (`settlement` below).
import { CONDITION_TARGET_DEVICE_VERIFIED, type DevicePair, type MdevMigration } from '../../api/v1alpha1/index.ts';
import type { CachedDevice } from '../cached-objects.ts';
import { objectKey } from '../../kube/resource.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import { mdevPoolKey } from '../../kubevirt/device-plugin.ts';
import { targetId, type ProbeRequest } from '../../placement/index.ts';
import { setCondition } from '../migration-status.ts';
import { DEFAULT_SETTLE_GRACE_MS, type StepContext } from './context.ts';

const VERIFY_PROBE_TIMEOUT_MS = 5_000;

type Verification = { accepted: boolean; reason?: string } | undefined;

export async function settle(ctx: StepContext, m: MdevMigration): Promise<ReconcileResult | void> {
  const pairs = m.status?.devices ?? [];
  const uid = m.metadata.uid ?? '';
  if (pairs.length === 0 || pairs.every((p) => p.target) || m.status?.conditions?.some((c) => c.type === CONDITION_TARGET_DEVICE_VERIFIED)) {
    if (ctx.o.claims.heldBy(uid).length > 0) await ctx.o.claims.releaseAll(uid);
    return;
  }
  const settled = await settlement(ctx, m);
  if (!settled) {
    // A consumer missing from caches that may be behind the API server proves nothing yet, and the
    // agent gets its grace counted from success or from when the caches caught up (an outage right
    // after success kept it from writing), whichever is later.
    const currency = ctx.caches.currency();
    if (currency.behind.length > 0) return ctx.wait(m, `caches behind the API server: ${currency.behind.join(', ')}`);
    const succeeded = Date.parse(m.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '');
    const since = Math.max(Number.isFinite(succeeded) ? succeeded : ctx.now(), currency.devicesSince ?? Number.NEGATIVE_INFINITY);
    const waited = ctx.now() - since;
    if (waited < (ctx.o.settleGraceMs ?? DEFAULT_SETTLE_GRACE_MS)) return { requeueAfter: 1000 };
    const node = m.status?.targetNode;
    await ctx.status.patch(m, {
      conditions: setCondition(m.status?.conditions ?? [], { type: CONDITION_TARGET_DEVICE_VERIFIED, status: 'Unknown', reason: 'NotReported', message: `the agent of ${node} did not report which device VMI ${m.spec.vmiName} got`, observedGeneration: m.metadata.generation ?? 1 }, ctx.now()),
    });
    await ctx.o.claims.releaseAll(uid);
    return;
  }
  m = await ctx.status.patch(m, { devices: settled.devices, conditions: setCondition(m.status?.conditions ?? [], settled.condition, ctx.now()) });
  recordSettled(ctx, m, settled);
  await ctx.o.claims.releaseAll(uid);
}

export interface Settlement {
  /** status.devices with the device each source got and whether its class accepted the source. */
  devices: DevicePair[];
  condition: { type: typeof CONDITION_TARGET_DEVICE_VERIFIED; status: 'True' | 'False' | 'Unknown'; reason: string; message: string; observedGeneration: number };
}

/**
 * What settling records, once the target's agent shows a device of the VMI for every source
 * device; undefined until then (or when the migration claimed no devices). Reads only, apart from
 * a verification probe where neither the claim's verified list nor the verdict cache knows the
 * class; without `probe`, such a device makes it undefined too (the caller must not wait).
 */
export async function settlement(ctx: StepContext, m: MdevMigration, probe = true): Promise<Settlement | undefined> {
  const pairs = m.status?.devices ?? [];
  if (pairs.length === 0) return undefined;
  const vmi = ctx.caches.vmis.get(objectKey(m.metadata.namespace, m.spec.vmiName));
  const node = m.status?.targetNode;
  const got = vmi && node ? ctx.caches.devices.list().filter((d) => d.spec.nodeName === node && d.status?.consumer?.uid === vmi.metadata.uid) : [];
  const assigned = assign(pairs, got);
  if (assigned.some((p) => !p.target)) return undefined;
  const checked: DevicePair[] = [];
  const rejected: string[] = [];
  let unknown = false;
  for (const p of assigned) {
    const v = p.verified?.includes(p.target as string) ? { accepted: true } : await verify(ctx, p.source, ctx.caches.devices.get(p.target as string), probe);
    if (v === 'unprobed') return undefined;
    checked.push(v ? { ...p, targetAccepted: v.accepted } : p);
    if (v === undefined) unknown = true;
    else if (!v.accepted) rejected.push(`${p.target} (${v.reason ?? 'rejected the source version'})`);
  }
  const condition =
    rejected.length > 0
      ? { status: 'False' as const, reason: 'OutsideAcceptedClass', message: `the device plugin gave VMI ${m.spec.vmiName} ${rejected.join(', ')}, outside the version classes that accepted the source` }
      : unknown
        ? { status: 'Unknown' as const, reason: 'NoVerdict', message: `no verdict for the version class of ${checked.map((p) => p.target).join(', ')} (its agent did not answer)` }
        : { status: 'True' as const, reason: 'InAcceptedClass', message: `VMI ${m.spec.vmiName} got ${checked.map((p) => p.target).join(', ')}, in version classes that accepted the source` };
  return { devices: checked, condition: { type: CONDITION_TARGET_DEVICE_VERIFIED, ...condition, observedGeneration: m.metadata.generation ?? 1 } };
}

/**
 * A device outside the accepted classes gets a Warning Event. The expected outcome gets none: the
 * TargetDeviceVerified condition says it, and an Event would be one more write per migration.
 */
export function recordSettled(ctx: StepContext, m: MdevMigration, s: Settlement): void {
  if (s.condition.status === 'False') ctx.event(m, 'Warning', 'UnverifiedTargetDevice', s.condition.message);
}

/** Each source gets a device the VMI holds in the same pool; its own created device first, then by name. */
function assign(pairs: readonly DevicePair[], got: readonly CachedDevice[]): DevicePair[] {
  const free = [...got].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const take = (p: DevicePair): string | undefined => {
    let j = p.created ? free.findIndex((d) => d.metadata.name === p.created) : -1;
    if (j < 0) j = free.findIndex((d) => mdevPoolKey(d.spec.type) === p.pool);
    if (j < 0) return undefined;
    return free.splice(j, 1)[0]?.metadata.name;
  };
  return pairs.map((p) => {
    const target = take(p);
    return target ? { ...p, target } : p;
  });
}

/** Does the class of `target` accept the source device's version? Cache first, then one probe. */
async function verify(ctx: StepContext, sourceName: string, target: CachedDevice | undefined, probe: boolean): Promise<Verification | 'unprobed'> {
  const source = ctx.caches.devices.get(sourceName);
  const sourceVersion = source?.status?.migrationVersion;
  const targetVersion = target?.status?.migrationVersion;
  if (!target || sourceVersion === undefined || targetVersion === undefined) return target && !target.status?.migratable ? { accepted: false, reason: 'not migratable (no migration version)' } : undefined;
  // A string describing the running vGPU (nvml) says nothing about the class the device was in
  // when the plugin handed it out, and was never a probe subject: no verdict.
  if (target.status?.versionKind === 'Instance' || source?.status?.versionKind !== target.status?.versionKind) return undefined;
  const typeId = target.spec.type.id;
  if (source && source.spec.type.id !== typeId) return { accepted: false, reason: `of type ${typeId}, not ${source.spec.type.id}` };
  const cached = ctx.o.decisions.cache.get(typeId, sourceVersion, targetVersion);
  if (cached) return cached;
  if (!probe) return 'unprobed';
  const ref = { kind: 'device' as const, nodeName: target.spec.nodeName, name: target.metadata.name, typeId, pool: mdevPoolKey(target.spec.type), parentAddress: target.spec.parent.address, version: targetVersion };
  const request: ProbeRequest = { nodeName: target.spec.nodeName, typeId, sourceVersion, targets: [ref] };
  const round = await ctx.o.probes.run([request], VERIFY_PROBE_TIMEOUT_MS);
  const result = round.answers[0]?.results.find((r) => r.target === targetId(ref));
  if (!result) return undefined;
  const verdict = result.reason === undefined ? { accepted: result.accepted } : { accepted: result.accepted, reason: result.reason };
  ctx.o.decisions.cache.set(typeId, sourceVersion, targetVersion, verdict);
  return verdict;
}
