// Admission of KubeVirt VirtualMachineInstanceMigrations (issue #6). Drains, node maintenance and
// KubeVirt's evictions create VMIMs directly, so this is where most migrations of VMIs with
// mediated devices enter. For VMIM CREATE:
//  - VMI without mediated devices: admit untouched, after one cache lookup and nothing else;
//  - fail closed (issue 18): refuse while this replica's caches may be behind the API server, and
//    refuse a VMI that requests a mediated device type the cluster knows but whose devices no
//    agent has published (nothing could verify a target);
//  - VMI that KubeVirt reports not live-migratable, or whose placement fields cannot be read:
//    deny with KubeVirt's reason or the unreadable field (never admit it unpinned);
//  - a VMIM our controller created (owned by an MdevMigration): admit untouched once the owner
//    reference checks out against that MdevMigration (exists, same uid, this VMI, the VMIM name
//    and node of its current attempt); a forged owner is refused;
//  - VMIM that pins a node (addedNodeSelector kubernetes.io/hostname, a label value that need not
//    equal the node's name): verify that node with the engine;
//  - otherwise: choose a verified target within a time budget;
//  then claim the target's pool capacity, record the decision as an MdevMigration, and pin the node
//  by its hostname label value (mutating) — or deny with every node's reason. Dry-run requests
//  decide but write nothing.
// The I/O sits behind the ports in admission-ports.ts; this module only sequences them.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { boundedCandidates } from '../placement/index.ts';
import { ANNOTATION_MIGRATION, LIMITS, type MdevMigrationStatus } from '../api/v1alpha1/index.ts';
import { vmimName } from '../api/v1alpha1/names.ts';
import { isObjectName } from '../api/validation.ts';
import { jsonPointerSegment } from '../kube/apply.ts';
import { LABEL_HOSTNAME, unreadablePlacementField } from '../kubevirt/types.ts';
import { notLiveMigratable } from '../kubevirt/live-migratable.ts';
import { describeUnreadable } from '../kube/lenient-decode.ts';
import { loggerFor } from '../observability/logger.ts';
import { allow, allowWithPatch, deny, type AdmissionHandler, type AdmissionRequest, type AdmissionVerdict, type JsonPatchOperation } from './server.ts';
import { noTargetMessage } from './denial-message.ts';
import {
  ReservationLostError,
  type AdmissionDecision,
  type AdmissionMode,
  type Decider,
  type MigrationFacts,
  type MigrationRecorder,
  type MigrationRef,
  type NodeNames,
  type Reserver,
  type VmiFacts,
  type VmiLookup,
} from './admission-ports.ts';

const log = loggerFor('vmim-admission');

/** Default decision budget; the webhook configuration's timeoutSeconds (10) leaves headroom for the writes. */
export const DEFAULT_DECISION_BUDGET_MS = 3_000;
/** Attempts at decide + reserve when a concurrent migration takes a chosen device first. */
const RESERVE_ATTEMPTS = 2;

/** What admission reads of the incoming VMIM (no uid yet at CREATE; the name may be generated). */
const incomingVmim = z.looseObject({
  metadata: z.looseObject({
    name: z.string().optional(),
    generateName: z.string().optional(),
    namespace: z.string().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    ownerReferences: z.array(z.looseObject({ apiVersion: z.string(), kind: z.string(), name: z.string(), uid: z.string().optional() })).optional(),
  }),
  spec: z.looseObject({ vmiName: z.string().min(1), addedNodeSelector: z.record(z.string(), z.string()).optional() }),
});
type IncomingVmim = z.infer<typeof incomingVmim>;

export interface VmimAdmissionDeps {
  mode: AdmissionMode;
  vmis: VmiLookup;
  nodes: NodeNames;
  decider: Decider;
  reserver: Reserver;
  recorder: MigrationRecorder;
  budgetMs?: number;
  now?: () => number;
}

export interface VmimAdmission {
  /** `/mutate-vmim`: verify or choose, reserve, record, pin. */
  mutate: AdmissionHandler;
  /** `/validate-vmim`: the final object must pin a node this webhook verified. */
  validate: AdmissionHandler;
}

/** Deterministic MdevMigration name for a VMIM: `vmim-<name>`, or from generateName and the request uid. */
export function migrationNameFor(vmimName: string, generateName: string | undefined, requestUid: string): string {
  const direct = `vmim-${vmimName}`;
  if (vmimName !== '' && isObjectName(direct)) return direct;
  const hash = createHash('sha256').update(`${vmimName}\0${generateName ?? ''}\0${requestUid}`).digest('hex').slice(0, 10);
  const stem = `vmim-${(vmimName || generateName || '').toLowerCase().replace(/[^a-z0-9.-]/g, '')}`.slice(0, 200).replace(/[^a-z0-9]+$/, '');
  return `${stem}-${hash}`;
}

/** The JSON patch that pins the node whose hostname label is `hostname` and links the VMIM to its MdevMigration. */
export function pinPatch(vmim: IncomingVmim, hostname: string, migrationName: string | undefined): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  const selector = vmim.spec.addedNodeSelector;
  if (selector === undefined) ops.push({ op: 'add', path: '/spec/addedNodeSelector', value: { [LABEL_HOSTNAME]: hostname } });
  else if (selector[LABEL_HOSTNAME] !== hostname) ops.push({ op: 'add', path: `/spec/addedNodeSelector/${jsonPointerSegment(LABEL_HOSTNAME)}`, value: hostname });
  if (migrationName !== undefined) {
    if (vmim.metadata.annotations === undefined) ops.push({ op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_MIGRATION]: migrationName } });
    else ops.push({ op: 'add', path: `/metadata/annotations/${jsonPointerSegment(ANNOTATION_MIGRATION)}`, value: migrationName });
  }
  return ops;
}

export function unreadableVmiMessage(vmiRef: string, devices: readonly string[], field: string): string {
  const shown = devices.slice(0, 3).join(', ') + (devices.length > 3 ? ` (+${devices.length - 3} more)` : '');
  return `mdev-operator: VMI ${vmiRef} holds mediated devices (MdevDevice ${shown}), but its ${field} could not be read, so no target node can be verified for it; refusing the VMIM instead of admitting it unpinned — fix that field of the VMI, or upgrade mdev-operator if KubeVirt changed its shape`;
}

/** The MdevMigration owner reference a VMIM claims, if any. */
function mdevMigrationOwner(vmim: IncomingVmim): { name: string; uid?: string } | undefined {
  return (vmim.metadata.ownerReferences ?? []).find((o) => o.kind === 'MdevMigration' && o.apiVersion.startsWith('mdev-operator.io/'));
}

export function unpublishedDevicesMessage(vmiRef: string, sourceNode: string | undefined, requests: readonly string[]): string {
  const shown = requests.slice(0, 3).join(', ') + (requests.length > 3 ? ` (+${requests.length - 3} more)` : '');
  const node = sourceNode ? `node ${sourceNode}` : 'its node';
  const check = sourceNode ? `\`kubectl get mdevdevices -l mdev-operator.io/node=${sourceNode}\`` : '`kubectl get mdevdevices`';
  return (
    `mdev-operator: VMI ${vmiRef} requests mediated devices (${shown}), but no MdevDevice names it as consumer, so neither its devices nor a target can be verified; ` +
    `refusing the VMIM instead of admitting it unpinned. The mdev-operator agent on ${node} has not published them (agent down or lagging, no PodResources socket, or the VM started seconds ago): ` +
    `check ${check} and the agent pod, then retry`
  );
}

export function cachesBehindMessage(behind: readonly string[]): string {
  return `mdev-operator: this webhook replica's caches are catching up with the API server (${behind.join(', ')}), so it cannot judge this VMIM now; retry in a few seconds`;
}

export function forgedOwnerMessage(vmimRef: string, owner: string, problem: string): string {
  return (
    `mdev-operator: VMIM ${vmimRef} claims MdevMigration ${owner} as its owner, but ${problem}; only the mdev-operator controller creates VMIMs owned by an MdevMigration. ` +
    'Remove the ownerReference to have this VMIM verified like any other, or create an MdevMigration instead'
  );
}

/** Why `owner` is not the MdevMigration that created this VMIM, or undefined when it is. */
function ownerProblem(m: MigrationFacts | undefined, owner: { name: string; uid?: string }, vmim: IncomingVmim, name: string, nodes: NodeNames): string | undefined {
  if (!m) return 'no such MdevMigration exists in this namespace';
  if (owner.uid !== m.uid) return `the ownerReference names uid ${owner.uid ?? '(none)'} while that MdevMigration has uid ${m.uid}`;
  if (m.admission) return 'that MdevMigration records an admitted VMIM; the controller creates none for it';
  if (m.vmiName !== vmim.spec.vmiName) return `that MdevMigration moves VMI ${m.vmiName}, not ${vmim.spec.vmiName}`;
  const attempt = m.attempts ?? 0;
  if (attempt < 1 || name !== vmimName(owner.name, attempt)) return attempt < 1 ? 'that MdevMigration has claimed no target yet' : `the VMIM of its attempt ${attempt} is named ${vmimName(owner.name, attempt)}, not ${name || '(generated)'}`;
  const hostname = vmim.spec.addedNodeSelector?.[LABEL_HOSTNAME];
  const pinned = hostname === undefined ? undefined : (nodes.nodeOf(hostname) ?? hostname);
  if (pinned !== m.targetNode) return `its target is ${m.targetNode ?? '(none)'} while this VMIM pins ${pinned ?? 'no node'}`;
  return undefined;
}

/** The MdevMigration status recording an admitted decision. */
export function decisionStatus(d: AdmissionDecision, vmimName: string): MdevMigrationStatus {
  const chosen = d.chosen;
  return {
    phase: 'Migrating',
    ...(d.sourceNode ? { sourceNode: d.sourceNode } : {}),
    ...(chosen ? { targetNode: chosen.node, devices: chosen.devices.map((p) => ({ source: p.source, pool: p.pool })) } : {}),
    candidates: boundedCandidates(d.explanations, LIMITS.candidates).map((e) => ({ node: e.node, verdict: e.verdict, message: e.message.slice(0, LIMITS.message) })),
    verdictTotals: { ...d.totals },
    probes: d.probes,
    decisionMillis: Math.max(0, Math.round(d.decisionMillis)),
    ...(vmimName ? { migrationName: vmimName } : {}),
    attempts: 1,
    message: chosen ? `admitted VMIM ${vmimName || '(generated name)'} to ${chosen.node}` : d.reason.slice(0, LIMITS.message),
  };
}

export function createVmimAdmission(deps: VmimAdmissionDeps): VmimAdmission {
  const budgetMs = deps.budgetMs ?? DEFAULT_DECISION_BUDGET_MS;

  /** Deny in enforce mode; in warn mode admit (with `patch`, if any) and say what was wrong. */
  const refuse = (message: string, ops: JsonPatchOperation[] = []): AdmissionVerdict =>
    deps.mode === 'warn' ? allowWithPatch(ops, [`${message} (admitted: mdev-operator webhook is in warn mode)`]) : deny(message);

  /** Resolve the request to a VMI with mediated devices, or to a verdict needing no decision. */
  const triage = async (request: AdmissionRequest): Promise<{ verdict: AdmissionVerdict } | { vmim: IncomingVmim; facts: VmiFacts; namespace: string }> => {
    if (deps.mode === 'off' || request.operation !== 'CREATE') return { verdict: allow() };
    const parsed = incomingVmim.safeParse(request.object);
    // KubeVirt's own validation rejects a VMIM without spec.vmiName; nothing of ours to protect.
    if (!parsed.success) return { verdict: allow() };
    const vmim = parsed.data;
    const namespace = request.namespace ?? vmim.metadata.namespace ?? '';
    const behind = deps.vmis.behind?.() ?? [];
    if (behind.length > 0) return { verdict: refuse(cachesBehindMessage(behind)) };
    // Not in the cache: it may lag a VMI started seconds ago, so ask the API server before
    // admitting. Absent there too, KubeVirt refuses the VMIM itself.
    const facts = deps.vmis.lookup(namespace, vmim.spec.vmiName) ?? (await deps.vmis.fetch?.(namespace, vmim.spec.vmiName));
    if (!facts) return { verdict: allow() };
    const vmiRef = `${namespace}/${facts.vmi.metadata.name}`;
    if (facts.deviceNames.length === 0) {
      // Fail closed: it asks for a mediated device type the cluster knows, yet no agent published it.
      if (facts.mdevRequests.length > 0) return { verdict: refuse(unpublishedDevicesMessage(vmiRef, facts.vmi.status?.nodeName, facts.mdevRequests)) };
      return { verdict: allow() };
    }
    // Fail closed: a VMI holding mediated devices whose placement fields could not be decoded can
    // have no verified target, so its VMIM is refused rather than admitted unpinned.
    const unreadable = unreadablePlacementField(facts.vmi);
    if (unreadable) return { verdict: refuse(unreadableVmiMessage(vmiRef, facts.deviceNames, describeUnreadable(unreadable))) };
    const owner = mdevMigrationOwner(vmim);
    if (owner) {
      const name = vmim.metadata.name ?? request.name ?? '';
      // The cache may lag the controller's status write (Planned, then the VMIM): ask the API server before refusing.
      const problem =
        ownerProblem(await deps.recorder.migration(namespace, owner.name, false), owner, vmim, name, deps.nodes) &&
        ownerProblem(await deps.recorder.migration(namespace, owner.name, true), owner, vmim, name, deps.nodes);
      return { verdict: problem ? refuse(forgedOwnerMessage(`${namespace}/${name || '(generated)'}`, `${namespace}/${owner.name}`, problem)) : allow() };
    }
    // KubeVirt's own admitter refuses it too; refusing here first claims nothing for it.
    const notMigratable = notLiveMigratable(facts.vmi);
    if (notMigratable) return { verdict: refuse(`mdev-operator: ${notMigratable}`) };
    return { vmim, facts, namespace };
  };

  const mutate: AdmissionHandler = async (request, ctx) => {
    const t = await triage(request);
    if ('verdict' in t) return t.verdict;
    const { vmim, facts, namespace } = t;
    const vmiRef = `${namespace}/${facts.vmi.metadata.name}`;
    const pinnedHostname = vmim.spec.addedNodeSelector?.[LABEL_HOSTNAME];
    const pinned = pinnedHostname === undefined ? undefined : (deps.nodes.nodeOf(pinnedHostname) ?? pinnedHostname);
    const vmimName = vmim.metadata.name ?? request.name ?? '';
    const migrationName = migrationNameFor(vmimName, vmim.metadata.generateName, request.uid);

    for (let attempt = 1; ; attempt++) {
      const decision = await deps.decider.decide({
        vmi: facts.vmi,
        ...(pinned !== undefined ? { targetNodes: [pinned] } : {}),
        budgetMs,
        probe: true,
        signal: ctx.signal,
      });
      const chosen = decision.chosen;
      if (!chosen) {
        return refuse(noTargetMessage({ vmiRef, sourceNode: decision.sourceNode, explanations: decision.explanations, totals: decision.totals, reason: decision.reason, ...(pinned !== undefined ? { pinnedNode: pinned } : {}) }));
      }
      // The engine excludes nodes without the label; a node that lost it since is refused, never pinned by name.
      const hostname = deps.nodes.hostnameOf(chosen.node);
      if (hostname === undefined) return refuse(`mdev-operator: node ${chosen.node} has no ${LABEL_HOSTNAME} label to pin VMI ${vmiRef}'s migration with; retry the migration`);
      if (request.dryRun === true) return allowWithPatch(pinPatch(vmim, hostname, undefined));
      const outcome = await reserveAndRecord(deps, { namespace, migrationName, vmiName: facts.vmi.metadata.name, vmimName, pinned, decision, chosen });
      if (outcome !== 'ok' && attempt < RESERVE_ATTEMPTS) continue;
      if (outcome !== 'ok') return refuse(`mdev-operator: could not claim capacity on ${chosen.node} for VMI ${vmiRef} ${RESERVE_ATTEMPTS} times (concurrent migrations claimed the last free units first); the last: ${outcome.lost}; retry the migration`);
      log.info('Admitted VMIM', { namespace, vmim: vmimName || vmim.metadata.generateName, vmi: facts.vmi.metadata.name, target: chosen.node, hostname, migration: migrationName, probes: decision.probes, millis: Math.round(decision.decisionMillis) });
      return allowWithPatch(pinPatch(vmim, hostname, migrationName));
    }
  };

  const validate: AdmissionHandler = async (request, ctx) => {
    const t = await triage(request);
    if ('verdict' in t) return t.verdict;
    const { vmim, facts, namespace } = t;
    const vmiRef = `${namespace}/${facts.vmi.metadata.name}`;
    const pinnedHostname = vmim.spec.addedNodeSelector?.[LABEL_HOSTNAME];
    if (pinnedHostname === undefined) {
      return refuse(`mdev-operator: VMI ${vmiRef} has mediated devices, but this VMIM pins no verified target node (spec.addedNodeSelector[${LABEL_HOSTNAME}]); the mutating webhook mdev-operator did not run — check its configuration, or create an MdevMigration instead`);
    }
    const pinned = deps.nodes.nodeOf(pinnedHostname) ?? pinnedHostname;
    const recordName = vmim.metadata.annotations?.[ANNOTATION_MIGRATION];
    if (recordName !== undefined && request.dryRun !== true) {
      const record = await deps.recorder.targetNodeOf(namespace, recordName);
      if (record?.vmiName === facts.vmi.metadata.name && record.targetNode === pinned) return allow();
    }
    // Pinned after our mutation (another webhook), by a dry run, or by hand: verify the node itself.
    const decision = await deps.decider.decide({ vmi: facts.vmi, targetNodes: [pinned], budgetMs, probe: true, signal: ctx.signal });
    if (decision.chosen?.node === pinned) return allow();
    return refuse(noTargetMessage({ vmiRef, sourceNode: decision.sourceNode, explanations: decision.explanations, totals: decision.totals, reason: decision.reason, pinnedNode: pinned }));
  };

  return { mutate, validate };
}

interface ReserveInput {
  namespace: string;
  migrationName: string;
  vmiName: string;
  vmimName: string;
  pinned: string | undefined;
  decision: AdmissionDecision;
  chosen: NonNullable<AdmissionDecision['chosen']>;
}

/**
 * Creates the MdevMigration (the reservations reference its uid), reserves the target devices and
 * writes the decision. Anything failing after a write undoes the writes before the error reaches
 * the API server, so a refused VMIM never leaves a reservation or a record behind.
 */
async function reserveAndRecord(deps: VmimAdmissionDeps, r: ReserveInput): Promise<'ok' | { lost: string }> {
  const ref: MigrationRef = await deps.recorder.create({
    namespace: r.namespace,
    name: r.migrationName,
    vmiName: r.vmiName,
    vmimName: r.vmimName,
    ...(r.pinned !== undefined ? { targetNodes: [r.pinned] } : {}),
  });
  try {
    // Independent writes, issued together: either failing rolls both back.
    const results = await Promise.allSettled([deps.reserver.reserve(ref, r.chosen.node, r.chosen.devices), deps.recorder.recordDecision(ref, decisionStatus(r.decision, r.vmimName))]);
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
    return 'ok';
  } catch (err) {
    await rollback(deps, ref, r.chosen.node);
    if (err instanceof ReservationLostError) {
      log.info('Lost the last unit of a pool to a concurrent migration; deciding again', { migration: r.migrationName, pool: err.pool, reason: err.message });
      return { lost: err.message };
    }
    throw err;
  }
}

async function rollback(deps: VmimAdmissionDeps, ref: MigrationRef, node: string): Promise<void> {
  try {
    await deps.reserver.release(ref, node);
  } catch (err) {
    // The claim names the deleted migration's uid, so the controller's sweeper frees it.
    log.error('Failed to release the capacity claim of a refused admission; the claim sweeper will free it', { migration: ref.name, error: (err as Error).message });
  }
  try {
    await deps.recorder.remove(ref);
  } catch (err) {
    log.error('Failed to delete the MdevMigration of a refused admission', { migration: ref.name, error: (err as Error).message });
  }
}
