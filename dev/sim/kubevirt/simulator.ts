// KubeVirt SIMULATOR: the stand-in for virt-api's VMIM admission, virt-controller, kube-scheduler,
// the kubelet's device manager and virt-handler that the local control plane lacks, as strict as
// KubeVirt v1.9 where the operator depends on it (sources cited per step):
// - VMIM creates go through real admission webhooks on the API server (admission.ts): 400 for a VMI
//   that is not live-migratable or already migrating; the spec is immutable after create.
// - A VMIM passes '' → Pending (WaitingForSync/Synchronizing first for a decentralized one) →
//   Scheduling → Scheduled → PreparingTarget → TargetReady → Running → Succeeded | Failed
//   (processMigrationPhase in pkg/virt-controller/watch/migration/migration.go).
// - The target pod is created unbound with KubeVirt's node selector (target-pod.ts); the stand-in
//   scheduler binds it, or leaves it Pending with PodScheduled=False and Events only, and after
//   `unschedulableTimeoutMs` (KubeVirt: 5 minutes) deletes it, which fails the migration with no
//   failureReason ("Migration target pod was removed during active migration.").
// - At kubelet admission a device-plugin stand-in picks any free device of each requested resource
//   (`allocateDevices`, seeded random in the fleet), not the one the operator might have wanted.
// - Progress lives in the VMI's status.migrationState (the VMI has no status subresource); the VMIM
//   gets status.migrationState copied only once final. Finished VMIMs beyond 5 per VMI are deleted
//   (defaultFinalizedMigrationGarbageCollectionBuffer). A deleted VMIM in flight is aborted, then its
//   kubevirt.io/migrationJobFinalize finalizer removed.
// Every write is a compare-and-swap or idempotent, so a restarted simulator continues where the last
// one stopped and two simulators cannot both advance one step.
import { withUserAgent } from '../../../src/kube/user-agent.ts';
import { STANDIN_USER_AGENTS } from '../user-agents.ts';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { realClock, sleep } from '../../../src/kube/clock.ts';
import { describeApiError, isConflict, isNotFound } from '../../../src/kube/errors.ts';
import { informerFor } from '../../../src/kube/informer.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { getVmi, getVmim, listVmims, patchVmiLabels, patchVmimStatus, patchVmiStatus } from '../../../src/kubevirt/client.ts';
import { KUBEVIRT_CR_RESOURCE, parseKubevirtCluster } from '../../../src/kubevirt/kubevirt-config.ts';
import {
  isVmimFinal,
  KUBEVIRT_API_VERSION,
  LABEL_NODE_NAME,
  parseVmim,
  VMIM_KIND,
  VMIM_LOCAL_PHASES,
  VMIM_PHASES,
  VMIM_RESOURCE,
  vmiRequiredNodeTerms,
  vmiResourceNames,
  type MigrationState,
  type Vmi,
  type Vmim,
  type VmimPhase,
} from '../../../src/kubevirt/types.ts';
import { loggerFor, type Logger } from '../../../src/observability/logger.ts';
import { startKubevirtAdmission, VMIM_FINALIZER, type KubevirtAdmission } from './admission.ts';
import {
  annotatePod,
  bindPod,
  createPod,
  deletePod,
  ensureDefaultServiceAccount,
  listLauncherPods,
  listSchedNodes,
  markPodFailed,
  markPodRunning,
  markPodUnschedulable,
  recordEvent,
  type LauncherPod,
} from './core-objects.ts';
import { ANNOTATION_ALLOCATED_DEVICES, ANNOTATION_FAIL_AT, buildLauncherPod, formatAllocatedDevices, launcherPodName } from './launcher-pod.ts';
import { chooseTargetNode } from './node-fit.ts';
import { targetPodNodeSelector } from './target-pod.ts';

export type AllocateDevices = (vmi: Vmi, targetNode: string, vmim: Vmim) => readonly string[] | Promise<readonly string[]>;
export type FailWhen = (vmim: Vmim, nextPhase: VmimPhase) => string | undefined;

export interface KubevirtSimulatorOptions {
  kc: KubeConfig;
  /** Only VMIMs in this namespace; absent = all namespaces. */
  namespace?: string;
  /** Pause before each phase transition (default 100 ms; 0 for benchmarks). */
  stepDelayMs?: number;
  /** How often the informer cache is rescanned for VMIMs still to advance (default 200 ms). */
  pollIntervalMs?: number;
  /** VMIMs advanced at the same time (default 16); the others wait for a later scan. */
  concurrency?: number;
  /**
   * The device-plugin stand-in at kubelet admission on the target: the device ids the target pod
   * gets (written to its `sim.mdev-operator.io/allocated-devices` annotation). Default: none. A
   * throw is a kubelet admission failure: the target pod fails, and with it the migration.
   */
  allocateDevices?: AllocateDevices;
  /** Failure injection: a reason fails the VMIM (as a source-reported failure) instead of entering `nextPhase`. */
  failWhen?: FailWhen;
  /** Report launcher pods Running, as a kubelet would (default true). */
  markPodsRunning?: boolean;
  /** How long a target pod may stay unschedulable before it is deleted (KubeVirt: 5 minutes). */
  unschedulableTimeoutMs?: number;
  /** Serve KubeVirt's VMIM admission webhooks on the API server (default true). */
  admission?: boolean;
  /** KubeVirt's DecentralizedLiveMigration feature gate: VMIMs with sendTo/receive (default off, as KubeVirt). */
  decentralized?: boolean;
  /** Called after each phase the simulator wrote (for demo output). */
  onPhase?: (vmim: Vmim, phase: VmimPhase) => void;
  log?: Logger;
}

export interface KubevirtSimulator {
  /** Stops watching, waits for in-flight steps to finish, and removes its admission webhooks. */
  stop(): Promise<void>;
}

const FIELD_MANAGER = 'kubevirt-simulator';
const COMPONENT = 'virt-controller (stand-in)';
/** KubeVirt keeps this many finished VMIMs per VMI (defaultFinalizedMigrationGarbageCollectionBuffer). */
export const FINISHED_VMIMS_KEPT = 5;
/** KubeVirt's defaultUnschedulablePendingTimeoutSeconds. */
export const DEFAULT_UNSCHEDULABLE_TIMEOUT_MS = 5 * 60_000;

type StepOutcome = 'advanced' | 'waiting';

function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The next phase of a local migration, or undefined for a final phase or one a newer KubeVirt adds. */
function phaseAfter(vmim: Vmim): VmimPhase | undefined {
  const phase = vmim.status?.phase ?? '';
  if (phase === '') {
    const spec = vmim.spec as { receive?: unknown; sendTo?: unknown };
    return spec.receive ? 'WaitingForSync' : spec.sendTo ? 'Synchronizing' : 'Pending';
  }
  // No second cluster to synchronize with: the sync counts as done at once.
  if (phase === 'WaitingForSync' || phase === 'Synchronizing') return 'Pending';
  const i = (VMIM_LOCAL_PHASES as readonly string[]).indexOf(phase);
  return i < 0 || i >= VMIM_LOCAL_PHASES.length - 1 ? undefined : VMIM_LOCAL_PHASES[i + 1];
}

function injectedFailure(vmim: Vmim, next: VmimPhase, failWhen: FailWhen | undefined): string | undefined {
  const at = vmim.metadata.annotations?.[ANNOTATION_FAIL_AT];
  if (at !== undefined && !(VMIM_PHASES as readonly string[]).includes(at)) {
    return `annotation ${ANNOTATION_FAIL_AT}=${at} names no migration phase: use one of ${VMIM_PHASES.join(', ')}`;
  }
  if (at === next) return `injected failure at phase ${next} (annotation ${ANNOTATION_FAIL_AT})`;
  return failWhen?.(vmim, next);
}

function ref(vmim: Vmim): { namespace: string; name: string } {
  return { namespace: vmim.metadata.namespace, name: vmim.metadata.name };
}

function vmiRef(vmim: Vmim): { namespace: string; name: string } {
  return { namespace: vmim.metadata.namespace, name: vmim.spec.vmiName };
}

function subject(vmim: Vmim) {
  return { apiVersion: KUBEVIRT_API_VERSION, kind: VMIM_KIND, namespace: vmim.metadata.namespace, name: vmim.metadata.name, uid: vmim.metadata.uid };
}

/** Before handoff KubeVirt cancels outright (handlePreHandoffMigrationCancel); after it, it aborts. */
function handedOff(vmim: Vmim): boolean {
  return !['', 'Pending', 'Scheduling', 'Scheduled', 'WaitingForSync', 'Synchronizing'].includes(vmim.status?.phase ?? '');
}

/** The VMI's guest memory request (spec.domain.resources.requests.memory), when it names one. */
function vmiMemoryRequest(vmi: Vmi): string | undefined {
  const requests = (vmi.spec.domain as { resources?: { requests?: Record<string, unknown> } } | undefined)?.resources?.requests;
  const memory = requests?.['memory'];
  return typeof memory === 'string' ? memory : undefined;
}

/** The requests of a pod's containers (one container per launcher pod here: not summed). */
function podRequests(pod: LauncherPod): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of pod.spec.containers ?? []) for (const [k, v] of Object.entries(c.resources?.requests ?? {})) out[k] = String(v);
  return out;
}

/** Starts the simulator; resolves once its admission webhooks are active on the API server. */
export async function startKubevirtSimulator(options: KubevirtSimulatorOptions): Promise<KubevirtSimulator> {
  const kc = withUserAgent(options.kc, STANDIN_USER_AGENTS.kubevirt);
  const log = options.log ?? loggerFor('kubevirt-simulator');
  const stepDelayMs = options.stepDelayMs ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const concurrency = Math.max(1, options.concurrency ?? 16);
  const unschedulableTimeoutMs = options.unschedulableTimeoutMs ?? DEFAULT_UNSCHEDULABLE_TIMEOUT_MS;
  const abort = new AbortController();
  const inFlight = new Map<string, Promise<void>>();
  const serviceAccountsReady = new Set<string>();
  const event = (vmim: Vmim, type: 'Normal' | 'Warning', reason: string, message: string) => recordEvent(kc, subject(vmim), type, reason, message, COMPONENT);

  async function transition(vmim: Vmim, phase: VmimPhase, extra: Record<string, unknown> = {}): Promise<Vmim | undefined> {
    const stamps = [...(vmim.status?.phaseTransitionTimestamps ?? []), { phase, phaseTransitionTimestamp: nowRfc3339() }];
    const updated = await patchVmimStatus(kc, ref(vmim), { phase, phaseTransitionTimestamps: stamps, ...extra }, { resourceVersion: vmim.metadata.resourceVersion, fieldManager: FIELD_MANAGER });
    log.debug('Advanced VirtualMachineInstanceMigration', { vmim: `${vmim.metadata.namespace}/${vmim.metadata.name}`, phase });
    if (updated) options.onPhase?.(updated, phase);
    return updated;
  }

  /** The VMI's migrationState, when it is this migration's. */
  function stateOf(vmim: Vmim, vmi: Vmi | undefined): MigrationState | undefined {
    const s = vmi?.status?.migrationState;
    return s && s.migrationUid === vmim.metadata.uid ? s : undefined;
  }

  async function targetPodOf(vmim: Vmim): Promise<LauncherPod | undefined> {
    return (await listLauncherPods(kc, { namespace: vmim.metadata.namespace, migrationUid: vmim.metadata.uid })).find((p) => !p.metadata.deletionTimestamp);
  }

  /**
   * Fails the VMIM: the VMI stays where it is and no target pod is left behind. `failureReason` is
   * what the source reports for a failed migration; the other failures KubeVirt explains only in
   * an Event (`event`), with no failureReason.
   */
  async function fail(vmim: Vmim, vmi: Vmi | undefined, cause: { failureReason?: string; event?: string; condition?: Record<string, unknown> }): Promise<void> {
    const pod = await targetPodOf(vmim);
    if (pod && vmi?.status?.nodeName !== pod.spec.nodeName) await deletePod(kc, vmim.metadata.namespace, pod.metadata.name);
    const endTimestamp = nowRfc3339();
    if (vmi && stateOf(vmim, vmi)) {
      await patchVmiStatus(kc, vmiRef(vmim), { migrationState: { completed: false, failed: true, endTimestamp, ...(cause.failureReason ? { failureReason: cause.failureReason } : {}) } }, { fieldManager: FIELD_MANAGER });
    }
    if (cause.event) await event(vmim, 'Warning', 'FailedMigration', cause.event);
    const conditions = cause.condition ? [...(vmim.status?.conditions ?? []), cause.condition] : vmim.status?.conditions;
    // A failure before the VMI carried this migration's state (an injected one) keeps its reason on the VMIM.
    const ownState = !stateOf(vmim, vmi) && cause.failureReason ? { migrationState: { migrationUid: vmim.metadata.uid, completed: false, failed: true, failureReason: cause.failureReason, endTimestamp } } : {};
    await transition(vmim, 'Failed', { ...(conditions ? { conditions } : {}), ...ownState });
    log.info('Failed VirtualMachineInstanceMigration', { vmim: `${vmim.metadata.namespace}/${vmim.metadata.name}`, reason: cause.failureReason ?? cause.event });
  }

  /** '' → Pending: KubeVirt's canMigrateVMI refuses a second migration the admitter missed. */
  async function accept(vmim: Vmim, next: VmimPhase): Promise<StepOutcome> {
    const others = (await listVmims(kc, { namespace: vmim.metadata.namespace }, log)).filter((o) => o.spec.vmiName === vmim.spec.vmiName);
    const busy = others.some((o) => o.metadata.uid !== vmim.metadata.uid && !isVmimFinal(o) && (o.status?.phase ?? '') !== '' && o.status?.phase !== 'Pending');
    if (busy) {
      await fail(vmim, undefined, { event: 'VMI is not eligible for migration because another migration job is in progress.' });
      return 'advanced';
    }
    await transition(vmim, next);
    return 'advanced';
  }

  /** Pending: create the target pod, unbound, with KubeVirt's node selector; then Scheduling. */
  async function createTargetPod(vmim: Vmim, vmi: Vmi): Promise<StepOutcome> {
    const { namespace } = vmim.metadata;
    const sourceNode = vmi.status?.nodeName;
    if (vmi.status?.phase !== 'Running' || !sourceNode) {
      await fail(vmim, vmi, { event: `Migration failed: VirtualMachineInstance ${namespace}/${vmi.metadata.name} is not running (phase ${vmi.status?.phase || 'unset'})` });
      return 'advanced';
    }
    let pod = await targetPodOf(vmim);
    if (!pod) {
      const nodes = await listSchedNodes(kc, log);
      const source = nodes.find((n) => n.name === sourceNode);
      const selector = targetPodNodeSelector(vmi, vmim, source?.labels ?? {}, await clusterSelectors());
      if (!selector.ok) {
        // KubeVirt records FailedCreatePod and retries until its catch-all timeout; nothing changes here.
        await event(vmim, 'Warning', 'FailedCreatePod', `failed to create target pod: ${selector.reason}`);
        await fail(vmim, vmi, { event: `Migration failed: ${selector.reason}` });
        return 'advanced';
      }
      if (!serviceAccountsReady.has(namespace)) {
        await ensureDefaultServiceAccount(kc, namespace);
        serviceAccountsReady.add(namespace);
      }
      const podName = launcherPodName(vmi.metadata.name);
      await createPod(kc, buildLauncherPod({
        namespace,
        podName,
        vmi: { name: vmi.metadata.name, uid: vmi.metadata.uid },
        resourceNames: vmiResourceNames(vmi),
        allocatedDevices: [],
        migration: { uid: vmim.metadata.uid, name: vmim.metadata.name },
        nodeSelector: selector.nodeSelector,
        memory: vmiMemoryRequest(vmi),
      }), namespace);
      await event(vmim, 'Normal', 'SuccessfulCreate', `Created migration target pod ${podName}`);
      pod = { metadata: { name: podName, namespace }, spec: {} } as LauncherPod;
    }
    await patchVmiStatus(kc, vmiRef(vmim), {
      migrationState: { sourceNode, targetNode: null, targetPod: pod.metadata.name, migrationUid: vmim.metadata.uid, completed: false, failed: false, startTimestamp: null, endTimestamp: null, failureReason: null },
    }, { fieldManager: FIELD_MANAGER });
    await transition(vmim, 'Scheduling');
    return 'advanced';
  }

  async function clusterSelectors(): Promise<Record<string, string>> {
    try {
      const list = (await kubeRequest(kc, { method: 'GET', path: resourcePath(KUBEVIRT_CR_RESOURCE) })) as { items?: unknown[] };
      return (list.items ?? []).map(parseKubevirtCluster).find((c) => c !== undefined)?.cluster.nodeSelectors ?? {};
    } catch (err) {
      if (isNotFound(err)) return {};
      throw err;
    }
  }

  /**
   * Scheduling: the stand-in scheduler binds the target pod where it fits (after the device-plugin
   * stand-in allocated its devices), or marks it unschedulable; past the timeout the pod is deleted.
   */
  async function scheduleTargetPod(vmim: Vmim, vmi: Vmi): Promise<StepOutcome> {
    const { namespace } = vmim.metadata;
    const pod = await targetPodOf(vmim);
    if (!pod) {
      await fail(vmim, vmi, { event: 'Migration target pod was removed during active migration.' });
      return 'advanced';
    }
    if (pod.status?.phase === 'Failed') {
      await fail(vmim, vmi, { event: 'Migration failed because target pod shutdown during migration' });
      return 'advanced';
    }
    if (!pod.spec.nodeName) {
      const [nodes, pods] = await Promise.all([listSchedNodes(kc, log), listLauncherPods(kc, {})]);
      const launcherPods = new Map<string, number>();
      for (const p of pods) if (p.spec.nodeName) launcherPods.set(p.spec.nodeName, (launcherPods.get(p.spec.nodeName) ?? 0) + 1);
      const fit = chooseTargetNode(nodes, {
        sourceNode: vmi.status?.nodeName ?? '',
        nodeSelector: pod.spec.nodeSelector ?? {},
        addedNodeSelector: {},
        requiredTerms: vmiRequiredNodeTerms(vmi),
        tolerations: vmi.spec.tolerations ?? [],
        launcherPods,
        requests: podRequests(pod),
      });
      if (!fit.ok) return unschedulable(vmim, vmi, pod, fit.reason);
      let devices: readonly string[];
      try {
        devices = (await options.allocateDevices?.(vmi, fit.node, vmim)) ?? [];
      } catch (err) {
        // The kubelet refuses the pod at admission: it fails, and KubeVirt fails the migration.
        await bindPod(kc, namespace, pod.metadata.name, fit.node);
        await markPodFailed(kc, namespace, pod.metadata.name, 'UnexpectedAdmissionError', err instanceof Error ? err.message : String(err));
        return 'advanced';
      }
      await annotatePod(kc, namespace, pod.metadata.name, { [ANNOTATION_ALLOCATED_DEVICES]: formatAllocatedDevices(devices) });
      await bindPod(kc, namespace, pod.metadata.name, fit.node);
      if (options.markPodsRunning !== false) await markPodRunning(kc, namespace, pod.metadata.name);
    }
    await transition(vmim, 'Scheduled');
    return 'advanced';
  }

  /** KubeVirt's handlePendingPodTimeout: Events while it waits, then the pod goes and the migration fails. */
  async function unschedulable(vmim: Vmim, vmi: Vmi, pod: LauncherPod, why: string): Promise<StepOutcome> {
    const { namespace } = vmim.metadata;
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status !== 'False' || scheduled.message !== why) {
      await markPodUnschedulable(kc, namespace, pod.metadata.name, why);
      await recordEvent(kc, { apiVersion: 'v1', kind: 'Pod', namespace, name: pod.metadata.name, uid: pod.metadata.uid ?? '' }, 'Warning', 'FailedScheduling', why, 'default-scheduler (stand-in)');
      await event(vmim, 'Warning', 'migrationTargetPodUnschedulable', `Migration target pod for VMI [${namespace}/${vmi.metadata.name}] is currently unschedulable.`);
    }
    const created = Date.parse(pod.metadata.creationTimestamp ?? '');
    if (!Number.isFinite(created) || Date.now() - created < unschedulableTimeoutMs) return 'waiting';
    await deletePod(kc, namespace, pod.metadata.name);
    await event(vmim, 'Normal', 'SuccessfulDelete', `unschedulable pod ${namespace}/${pod.metadata.name} timeout period exceeded`);
    await fail(vmim, vmi, { event: 'Migration target pod was removed during active migration.' });
    return 'advanced';
  }

  async function prepareTarget(vmim: Vmim, vmi: Vmi, next: VmimPhase): Promise<StepOutcome> {
    const pod = await targetPodOf(vmim);
    if (!pod?.spec.nodeName) {
      await fail(vmim, vmi, { event: 'Migration target pod was removed during active migration.' });
      return 'advanced';
    }
    if (next === 'TargetReady') await patchVmiStatus(kc, vmiRef(vmim), { migrationState: { targetNode: pod.spec.nodeName, targetPod: pod.metadata.name } }, { fieldManager: FIELD_MANAGER });
    await transition(vmim, next);
    return 'advanced';
  }

  async function startMigration(vmim: Vmim): Promise<StepOutcome> {
    await patchVmiStatus(kc, vmiRef(vmim), { migrationState: { startTimestamp: nowRfc3339() } }, { fieldManager: FIELD_MANAGER });
    await transition(vmim, 'Running');
    return 'advanced';
  }

  /** Switches the VMI to the target and removes the source pod; safe to repeat after a restart. */
  async function complete(vmim: Vmim, vmi: Vmi): Promise<StepOutcome> {
    const state = stateOf(vmim, vmi) ?? {};
    const target = state.targetNode as string;
    if (vmi.metadata.labels?.[LABEL_NODE_NAME] !== target) await patchVmiLabels(kc, vmiRef(vmim), { [LABEL_NODE_NAME]: target }, FIELD_MANAGER);
    await patchVmiStatus(kc, vmiRef(vmim), { nodeName: target, migrationState: { endTimestamp: nowRfc3339(), completed: true, failed: false } }, { fieldManager: FIELD_MANAGER });
    const pods = await listLauncherPods(kc, { namespace: vmim.metadata.namespace, vmiUid: vmi.metadata.uid });
    for (const p of pods) if (p.metadata.name !== state.targetPod) await deletePod(kc, p.metadata.namespace, p.metadata.name);
    await event(vmim, 'Normal', 'SuccessfulMigration', 'Source node reported migration succeeded');
    await transition(vmim, 'Succeeded');
    log.info('Migrated VirtualMachineInstance', { vmi: `${vmim.metadata.namespace}/${vmim.spec.vmiName}`, sourceNode: state.sourceNode, targetNode: target, vmim: vmim.metadata.name });
    return 'advanced';
  }

  /**
   * A final VMIM, one step per pass: copy the VMI's migrationState (only now, as KubeVirt does),
   * drop the finalizer, then collect old VMIMs of the VMI.
   */
  async function finalize(vmim: Vmim, vmi: Vmi | undefined): Promise<StepOutcome> {
    const state = stateOf(vmim, vmi);
    if (state && !vmim.status?.migrationState) {
      await patchVmimStatus(kc, ref(vmim), { migrationState: state }, { resourceVersion: vmim.metadata.resourceVersion, fieldManager: FIELD_MANAGER });
      return 'advanced';
    }
    const finalizers = (vmim.metadata as { finalizers?: string[] }).finalizers ?? [];
    if (finalizers.includes(VMIM_FINALIZER)) {
      await mergePatch(kc, VMIM_RESOURCE, ref(vmim), { metadata: { resourceVersion: vmim.metadata.resourceVersion, finalizers: finalizers.filter((f) => f !== VMIM_FINALIZER) } }, { fieldManager: FIELD_MANAGER });
      return 'advanced';
    }
    await collectGarbage(vmim);
    return 'waiting';
  }

  /** KubeVirt's garbageCollectFinalizedMigrations: only the newest 5 finished VMIMs of a VMI stay. */
  async function collectGarbage(vmim: Vmim): Promise<void> {
    const all = await listVmims(kc, { namespace: vmim.metadata.namespace }, log);
    const finished = all
      .filter((v) => v.spec.vmiName === vmim.spec.vmiName && isVmimFinal(v) && !v.metadata.deletionTimestamp)
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    for (const old of finished.slice(0, Math.max(0, finished.length - FINISHED_VMIMS_KEPT))) {
      await kubeRequest(kc, { method: 'DELETE', path: resourcePath(VMIM_RESOURCE, ref(old)) }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
      log.debug('Garbage-collected a finished VirtualMachineInstanceMigration', { vmim: `${old.metadata.namespace}/${old.metadata.name}` });
    }
  }

  /** A VMIM deleted before it finished: KubeVirt cancels (before handoff) or aborts it, then lets it go. */
  async function cancel(vmim: Vmim, vmi: Vmi | undefined): Promise<void> {
    const condition = { type: 'AbortRequested', status: 'True', lastProbeTime: nowRfc3339() };
    const message = handedOff(vmim) ? 'Migration failed: aborted because its VirtualMachineInstanceMigration was deleted' : 'Migration failed due to being canceled';
    await fail(vmim, vmi, { event: message, condition });
  }

  async function step(vmim: Vmim): Promise<StepOutcome> {
    const vmi = await getVmi(kc, vmim.metadata.namespace, vmim.spec.vmiName, log);
    if (isVmimFinal(vmim)) return finalize(vmim, vmi);
    if (vmim.metadata.deletionTimestamp) {
      await cancel(vmim, vmi);
      return 'advanced';
    }
    const next = phaseAfter(vmim);
    if (!next) return 'waiting';
    // A restart between moving the VMI and writing Succeeded must finish, never fail, the migration.
    const state = stateOf(vmim, vmi);
    if (next === 'Succeeded' && vmi && state?.completed === true && vmi.status?.nodeName === state.targetNode) return complete(vmim, vmi);
    if (!vmi) {
      await fail(vmim, vmi, { event: 'Migration failed because vmi does not exist.' });
      return 'advanced';
    }
    const injected = injectedFailure(vmim, next, options.failWhen);
    if (injected) {
      await fail(vmim, vmi, { failureReason: injected, event: 'source node reported migration failed' });
      return 'advanced';
    }
    switch (vmim.status?.phase ?? '') {
      case '':
        return accept(vmim, next);
      case 'Pending':
        return createTargetPod(vmim, vmi);
      case 'Scheduling':
        return scheduleTargetPod(vmim, vmi);
      case 'Scheduled':
      case 'PreparingTarget':
        return prepareTarget(vmim, vmi, next);
      case 'TargetReady':
        return startMigration(vmim);
      case 'Running':
        return complete(vmim, vmi);
      default:
        await transition(vmim, next);
        return 'advanced';
    }
  }

  /** Advances one VMIM until it is final, has to wait, or the simulator stops. */
  async function drive(namespace: string, name: string): Promise<void> {
    while (!abort.signal.aborted) {
      // Each transition waits one step, so every phase stays observable for a moment.
      if (stepDelayMs > 0) await sleep(realClock, stepDelayMs, abort.signal);
      if (abort.signal.aborted) return;
      const vmim = await getVmim(kc, namespace, name, log);
      if (!vmim) return;
      try {
        if ((await step(vmim)) === 'waiting') return;
      } catch (err) {
        if (isConflict(err) || isNotFound(err)) continue; // someone else wrote or removed it: re-read
        throw err;
      }
    }
  }

  /** Not final, or final with the finalizer still on (a simulator stopped before it finished up). */
  function needsWork(vmim: Vmim): boolean {
    return !isVmimFinal(vmim) || ((vmim.metadata as { finalizers?: string[] }).finalizers ?? []).includes(VMIM_FINALIZER);
  }

  function launch(vmim: Vmim): void {
    if (abort.signal.aborted || !needsWork(vmim)) return;
    const key = `${vmim.metadata.namespace}/${vmim.metadata.name}`;
    if (inFlight.has(key) || inFlight.size >= concurrency) return;
    const run = drive(vmim.metadata.namespace, vmim.metadata.name)
      .catch((err: unknown) => {
        log.warn('Advancing VirtualMachineInstanceMigration failed; retrying on the next scan', { vmim: key, error: describeApiError(err) });
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, run);
  }

  // Events from the informer start work at once; the periodic scan of its cache picks up VMIMs
  // that found every worker busy or wait on a Pending target pod.
  const informer = informerFor<Vmim>(kc, {
    resource: VMIM_RESOURCE,
    namespace: options.namespace,
    parse: (obj) => parseVmim(obj, log),
    name: 'kubevirt-simulator-vmims',
    logger: log,
  });
  informer.addHandlers({ add: launch, update: (_old, vmim) => launch(vmim) });

  function launchOpen(): void {
    const open = informer.list().filter(needsWork);
    open.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    for (const v of open) launch(v);
  }

  async function rescan(): Promise<void> {
    while (!abort.signal.aborted) {
      await sleep(realClock, pollIntervalMs, abort.signal);
      if (!abort.signal.aborted) launchOpen();
    }
  }

  const admission: KubevirtAdmission | undefined = options.admission === false ? undefined : await startKubevirtAdmission({ kc, ...(options.namespace ? { namespace: options.namespace } : {}), decentralized: options.decentralized === true, log });
  informer.start();
  const loop = rescan();
  log.info('Started KubeVirt simulator (stand-in for virt-api admission, virt-controller, the scheduler and virt-handler)', { namespace: options.namespace ?? '<all>', stepDelayMs });
  return {
    async stop() {
      abort.abort();
      await informer.stop();
      await loop;
      await Promise.allSettled([...inFlight.values()]);
      await admission?.stop();
    },
  };
}
