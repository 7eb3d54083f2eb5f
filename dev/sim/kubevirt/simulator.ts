// KubeVirt SIMULATOR: the stand-in for virt-controller, kube-scheduler and virt-handler that the
// local control plane lacks. It watches VirtualMachineInstanceMigrations and advances each through
// KubeVirt's phases Pending → Scheduling → Scheduled → PreparingTarget → TargetReady → Running →
// Succeeded, choosing the target node as the scheduler would, creating the target virt-launcher pod,
// and finally moving the VMI and deleting the source pod. All progress lives in the VMIM's status,
// so a restarted simulator continues where the last one stopped, and every write is a
// compare-and-swap on the VMIM's resourceVersion, so two simulators cannot both advance one step.
import { withUserAgent } from '../../../src/kube/user-agent.ts';
import { STANDIN_USER_AGENTS } from '../user-agents.ts';
import type { KubeConfig } from '@kubernetes/client-node';
import { realClock, sleep } from '../../../src/kube/clock.ts';
import { describeApiError, isConflict } from '../../../src/kube/errors.ts';
import { informerFor } from '../../../src/kube/informer.ts';
import { getVmi, getVmim, listVmims, patchVmiLabels, patchVmimStatus, patchVmiStatus } from '../../../src/kubevirt/client.ts';
import {
  CONDITION_LIVE_MIGRATABLE,
  findCondition,
  isVmimFinal,
  LABEL_NODE_NAME,
  parseVmim,
  VMIM_PHASES,
  VMIM_RESOURCE,
  vmiDeviceRequests,
  vmiRequiredNodeTerms,
  type MigrationState,
  type Vmi,
  type Vmim,
  type VmimPhase,
} from '../../../src/kubevirt/types.ts';
import { loggerFor, type Logger } from '../../../src/observability/logger.ts';
import { createPod, deletePod, ensureDefaultServiceAccount, listLauncherPods, listSchedNodes, markPodRunning } from './core-objects.ts';
import { ANNOTATION_FAIL_AT, buildLauncherPod, launcherPodName } from './launcher-pod.ts';
import { chooseTargetNode } from './node-fit.ts';

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
   * Stand-in for the device plugin's allocation on the target node: the device ids written to
   * the target pod's `sim.mdev-operator.io/allocated-devices` annotation. Default: none. A throw
   * fails the migration, as a kubelet admission error would.
   */
  allocateDevices?: AllocateDevices;
  /** Failure injection: a reason fails the VMIM instead of entering `nextPhase`. */
  failWhen?: FailWhen;
  /** Report launcher pods Running, as a kubelet would (default true). */
  markPodsRunning?: boolean;
  /** Called after each phase the simulator wrote (for demo output). */
  onPhase?: (vmim: Vmim, phase: VmimPhase) => void;
  log?: Logger;
}

export interface KubevirtSimulator {
  /** Stops watching and waits for in-flight steps to finish. */
  stop(): Promise<void>;
}

const FIELD_MANAGER = 'kubevirt-simulator';

type StepOutcome = 'advanced' | 'waiting';

function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function phaseAfter(phase: string): VmimPhase | undefined {
  if (phase === '') return 'Pending';
  const i = (VMIM_PHASES as readonly string[]).indexOf(phase);
  // Unknown phases (a newer KubeVirt's) and the final ones have no successor here.
  return i < 0 || i >= VMIM_PHASES.indexOf('Succeeded') ? undefined : VMIM_PHASES[i + 1];
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

export function startKubevirtSimulator(options: KubevirtSimulatorOptions): KubevirtSimulator {
  const kc = withUserAgent(options.kc, STANDIN_USER_AGENTS.kubevirt);
  const log = options.log ?? loggerFor('kubevirt-simulator');
  const stepDelayMs = options.stepDelayMs ?? 100;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const concurrency = Math.max(1, options.concurrency ?? 16);
  const abort = new AbortController();
  const inFlight = new Map<string, Promise<void>>();
  const serviceAccountsReady = new Set<string>();

  async function transition(vmim: Vmim, phase: VmimPhase, state: MigrationState = {}): Promise<Vmim | undefined> {
    const stamps = [...(vmim.status?.phaseTransitionTimestamps ?? []), { phase, phaseTransitionTimestamp: nowRfc3339() }];
    const updated = await patchVmimStatus(kc, ref(vmim), {
      phase,
      phaseTransitionTimestamps: stamps,
      ...(Object.keys(state).length > 0 ? { migrationState: state } : {}),
    }, { resourceVersion: vmim.metadata.resourceVersion, fieldManager: FIELD_MANAGER });
    log.debug('Advanced VirtualMachineInstanceMigration', { vmim: `${vmim.metadata.namespace}/${vmim.metadata.name}`, phase });
    if (updated) options.onPhase?.(updated, phase);
    return updated;
  }

  /** Fails the VMIM: the VMI stays where it is and no target pod is left behind. */
  async function fail(vmim: Vmim, vmi: Vmi | undefined, reason: string): Promise<void> {
    const state = vmim.status?.migrationState;
    if (state?.targetPod && vmi?.status?.nodeName !== state.targetNode) {
      await deletePod(kc, vmim.metadata.namespace, state.targetPod);
    }
    const endTimestamp = nowRfc3339();
    if (vmi && vmi.status?.migrationState?.migrationUid === vmim.metadata.uid) {
      await patchVmiStatus(kc, vmiRef(vmim), { migrationState: { completed: false, failed: true, failureReason: reason, endTimestamp } }, { fieldManager: FIELD_MANAGER });
    }
    await transition(vmim, 'Failed', { completed: false, failed: true, failureReason: reason, endTimestamp });
    log.info('Failed VirtualMachineInstanceMigration', { vmim: `${vmim.metadata.namespace}/${vmim.metadata.name}`, reason });
  }

  /** Why `vmim` cannot start, or 'wait' while an older migration of the same VMI is in progress. */
  async function admissionProblem(vmim: Vmim, vmi: Vmi | undefined): Promise<string | 'wait' | undefined> {
    const vmiName = `${vmim.metadata.namespace}/${vmim.spec.vmiName}`;
    if (!vmi) return `VirtualMachineInstance ${vmiName} does not exist`;
    if (vmi.status?.phase !== 'Running' || !vmi.status.nodeName) return `VirtualMachineInstance ${vmiName} is not running (phase ${vmi.status?.phase || 'unset'})`;
    const migratable = findCondition(vmi.status.conditions, CONDITION_LIVE_MIGRATABLE);
    if (migratable?.status === 'False') return `VirtualMachineInstance ${vmiName} is not live migratable: ${migratable.message ?? migratable.reason ?? 'LiveMigratable=False'}`;
    // KubeVirt runs one migration per VMI at a time; later VMIMs wait (ordered by creation, then name).
    const others = await listVmims(kc, { namespace: vmim.metadata.namespace }, log);
    const order = (v: Vmim): string => `${v.metadata.creationTimestamp ?? ''}/${v.metadata.name}`;
    const older = others.find((o) =>
      o.metadata.uid !== vmim.metadata.uid && o.spec.vmiName === vmim.spec.vmiName && !isVmimFinal(o) &&
      (((o.status?.phase ?? '') !== '' && o.status?.phase !== 'Pending') || order(o) < order(vmim)),
    );
    return older ? 'wait' : undefined;
  }

  async function schedule(vmim: Vmim, vmi: Vmi): Promise<StepOutcome> {
    const problem = await admissionProblem(vmim, vmi);
    if (problem === 'wait') return 'waiting';
    if (problem) return fail(vmim, vmi, problem).then(() => 'advanced');
    const sourceNode = vmi.status?.nodeName as string;
    const [nodes, pods] = await Promise.all([listSchedNodes(kc, log), listLauncherPods(kc, {})]);
    const launcherPods = new Map<string, number>();
    for (const p of pods) if (p.spec.nodeName) launcherPods.set(p.spec.nodeName, (launcherPods.get(p.spec.nodeName) ?? 0) + 1);
    const fit = chooseTargetNode(nodes, {
      sourceNode,
      nodeSelector: vmi.spec.nodeSelector ?? {},
      addedNodeSelector: vmim.spec.addedNodeSelector ?? {},
      requiredTerms: vmiRequiredNodeTerms(vmi),
      tolerations: vmi.spec.tolerations ?? [],
      launcherPods,
    });
    if (!fit.ok) return fail(vmim, vmi, `no node can take the target pod of VirtualMachineInstance ${vmim.metadata.namespace}/${vmi.metadata.name}: ${fit.reason}`).then(() => 'advanced');
    await transition(vmim, 'Scheduling', {
      sourceNode,
      targetNode: fit.node,
      targetPod: launcherPodName(vmi.metadata.name),
      migrationUid: vmim.metadata.uid,
      completed: false,
      failed: false,
    });
    return 'advanced';
  }

  /** Stand-in for scheduling plus kubelet admission: the target pod appears on the target node. */
  async function createTargetPod(vmim: Vmim, vmi: Vmi): Promise<StepOutcome> {
    const state = vmim.status?.migrationState ?? {};
    const { namespace } = vmim.metadata;
    if (!state.targetNode || !state.targetPod) return fail(vmim, vmi, 'migration state lost its target node or pod: create a new migration').then(() => 'advanced');
    const existing = await listLauncherPods(kc, { namespace, vmiUid: vmi.metadata.uid });
    if (!existing.some((p) => p.metadata.name === state.targetPod)) {
      let devices: readonly string[];
      try {
        devices = (await options.allocateDevices?.(vmi, state.targetNode, vmim)) ?? [];
      } catch (err) {
        return fail(vmim, vmi, `device allocation on node ${state.targetNode} failed: ${err instanceof Error ? err.message : String(err)}`).then(() => 'advanced');
      }
      if (!serviceAccountsReady.has(namespace)) {
        await ensureDefaultServiceAccount(kc, namespace);
        serviceAccountsReady.add(namespace);
      }
      await createPod(kc, buildLauncherPod({
        namespace,
        podName: state.targetPod,
        nodeName: state.targetNode,
        vmi: { name: vmi.metadata.name, uid: vmi.metadata.uid },
        resourceNames: vmiDeviceRequests(vmi).map((d) => d.deviceName),
        allocatedDevices: devices,
        migrationUid: vmim.metadata.uid,
      }), namespace);
      if (options.markPodsRunning !== false) await markPodRunning(kc, namespace, state.targetPod);
    }
    await transition(vmim, 'Scheduled');
    return 'advanced';
  }

  async function startMigration(vmim: Vmim): Promise<StepOutcome> {
    const state = vmim.status?.migrationState ?? {};
    const startTimestamp = nowRfc3339();
    await patchVmiStatus(kc, vmiRef(vmim), {
      migrationState: { sourceNode: state.sourceNode, targetNode: state.targetNode, targetPod: state.targetPod, migrationUid: vmim.metadata.uid, startTimestamp, endTimestamp: null, completed: false, failed: false, failureReason: null },
    }, { fieldManager: FIELD_MANAGER });
    await transition(vmim, 'Running', { startTimestamp });
    return 'advanced';
  }

  /** Switches the VMI to the target and removes the source pod; safe to repeat after a restart. */
  async function complete(vmim: Vmim, vmi: Vmi): Promise<StepOutcome> {
    const state = vmim.status?.migrationState ?? {};
    const target = state.targetNode as string;
    const endTimestamp = nowRfc3339();
    if (vmi.metadata.labels?.[LABEL_NODE_NAME] !== target) await patchVmiLabels(kc, vmiRef(vmim), { [LABEL_NODE_NAME]: target }, FIELD_MANAGER);
    await patchVmiStatus(kc, vmiRef(vmim), {
      nodeName: target,
      migrationState: { sourceNode: state.sourceNode, targetNode: target, targetPod: state.targetPod, migrationUid: vmim.metadata.uid, startTimestamp: state.startTimestamp ?? endTimestamp, endTimestamp, completed: true, failed: false },
    }, { fieldManager: FIELD_MANAGER });
    const pods = await listLauncherPods(kc, { namespace: vmim.metadata.namespace, vmiUid: vmi.metadata.uid });
    for (const p of pods) if (p.metadata.name !== state.targetPod) await deletePod(kc, p.metadata.namespace, p.metadata.name);
    await transition(vmim, 'Succeeded', { completed: true, failed: false, endTimestamp });
    log.info('Migrated VirtualMachineInstance', { vmi: `${vmim.metadata.namespace}/${vmim.spec.vmiName}`, sourceNode: state.sourceNode, targetNode: target, vmim: vmim.metadata.name });
    return 'advanced';
  }

  function alreadyMoved(vmim: Vmim, vmi: Vmi | undefined): boolean {
    const s = vmi?.status?.migrationState;
    return s?.migrationUid === vmim.metadata.uid && s.completed === true && vmi?.status?.nodeName === s.targetNode;
  }

  async function step(vmim: Vmim): Promise<StepOutcome> {
    const next = phaseAfter(vmim.status?.phase ?? '');
    if (!next) return 'waiting';
    const vmi = await getVmi(kc, vmim.metadata.namespace, vmim.spec.vmiName, log);
    // A restart between moving the VMI and writing Succeeded must finish, never fail, the migration.
    if (next === 'Succeeded' && vmi && alreadyMoved(vmim, vmi)) return complete(vmim, vmi);
    const injected = injectedFailure(vmim, next, options.failWhen);
    if (injected) return fail(vmim, vmi, injected).then(() => 'advanced');
    if (next !== 'Pending' && !vmi) return fail(vmim, vmi, `VirtualMachineInstance ${vmim.metadata.namespace}/${vmim.spec.vmiName} does not exist`).then(() => 'advanced');
    switch (next) {
      case 'Pending':
        await transition(vmim, 'Pending');
        return 'advanced';
      case 'Scheduling':
        return schedule(vmim, vmi as Vmi);
      case 'Scheduled':
        return createTargetPod(vmim, vmi as Vmi);
      case 'Running':
        return startMigration(vmim);
      case 'Succeeded':
        return complete(vmim, vmi as Vmi);
      default:
        await transition(vmim, next);
        return 'advanced';
    }
  }

  /** Advances one VMIM until it is final, waits for another migration, or the simulator stops. */
  async function drive(namespace: string, name: string): Promise<void> {
    while (!abort.signal.aborted) {
      // Each transition waits one step, so every phase stays observable for a moment.
      if (stepDelayMs > 0) await sleep(realClock, stepDelayMs, abort.signal);
      if (abort.signal.aborted) return;
      const vmim = await getVmim(kc, namespace, name, log);
      if (!vmim || isVmimFinal(vmim)) return;
      try {
        if ((await step(vmim)) === 'waiting') return;
      } catch (err) {
        if (isConflict(err)) continue; // someone else wrote the VMIM: re-read and decide again
        throw err;
      }
    }
  }

  function launch(vmim: Vmim): void {
    // Final phases and phases of a newer KubeVirt have no next step here.
    if (abort.signal.aborted || !phaseAfter(vmim.status?.phase ?? '')) return;
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
  // that found every worker busy or waited for an older migration of the same VMI.
  const informer = informerFor<Vmim>(kc, {
    resource: VMIM_RESOURCE,
    namespace: options.namespace,
    parse: (obj) => parseVmim(obj, log),
    name: 'kubevirt-simulator-vmims',
    logger: log,
  });
  informer.addHandlers({ add: launch, update: (_old, vmim) => launch(vmim) });

  function launchOpen(): void {
    const open = informer.list().filter((v) => !isVmimFinal(v) && !v.metadata.deletionTimestamp);
    open.sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    for (const v of open) launch(v);
  }

  async function rescan(): Promise<void> {
    while (!abort.signal.aborted) {
      await sleep(realClock, pollIntervalMs, abort.signal);
      if (!abort.signal.aborted) launchOpen();
    }
  }

  informer.start();
  const loop = rescan();
  log.info('Started KubeVirt simulator (stand-in for virt-controller and virt-handler)', { namespace: options.namespace ?? '<all>', stepDelayMs });
  return {
    async stop() {
      abort.abort();
      await informer.stop();
      await loop;
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
