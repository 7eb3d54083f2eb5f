// The demo's story on a running API server: install the CRDs, start the operator (controller,
// webhook) and the simulated fleet, start VMIs, then (a) an MdevMigration that succeeds, (b) one
// that fails and says why, (c) a VMIM created directly, as `kubectl drain` would, which the
// webhook steers to a verified node, and (d) a plan-drain table. Every step reads its outcome back
// from the API server into a plain StoryResult, which summary.ts renders and checks.
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import { API_VERSION, parseFromWire, type MdevMigration } from '../../src/api/v1alpha1/index.ts';
import { renderTable } from '../../src/cli/output/table.ts';
import { planDrain, type DrainPlan } from '../../src/cli/plan-drain.ts';
import { renderDrainPlan } from '../../src/cli/plan-drain-command.ts';
import { MDEV_MIGRATIONS } from '../../src/controller/resources.ts';
import { agentLeaseFresh } from '../../src/controller/snapshot.ts';
import { objectKey, resourcePath } from '../../src/kube/resource.ts';
import { kubeRequest } from '../../src/kube/request.ts';
import { getVmi, getVmim, listVmims } from '../../src/kubevirt/client.ts';
import { LABEL_HOSTNAME, parseVmim, VMIM_RESOURCE, vmimPinnedHostname, type Vmi } from '../../src/kubevirt/types.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { ANNOTATION_MIGRATION } from '../../src/api/v1alpha1/constants.ts';
import { watchPhases, type PhaseWatch, type Progress } from './progress.ts';
import type { Scenario } from './scenario.ts';
import { assertNoOtherController, installOperatorCrds, removeLeftovers, startStack, type Stack } from './stack.ts';
import { installKubevirtStandins } from '../standins/kubevirt-crds.ts';

/** What a migration ended as, read back from its MdevMigration. */
export interface MigrationOutcome {
  name: string;
  phase: string;
  sourceNode?: string;
  targetNode?: string;
  message?: string;
  probes: number;
  /** What a search without equivalence classes would have probed for the same decision. */
  exhaustiveProbes: number;
  candidates: { node: string; verdict: string; message?: string }[];
  /** Where the VMI runs once the step is over. */
  vmiNode?: string;
}

export interface EvictionOutcome {
  vmim: string;
  /** The node the webhook pinned (spec.addedNodeSelector); undefined when the VMIM was refused. */
  pinnedNode?: string;
  /** The API server's refusal, if the webhook denied the VMIM. */
  refusal?: string;
  vmimPhase?: string;
  /** The MdevMigration the webhook recorded for the VMIM, once the controller finished following it. */
  recorded?: MigrationOutcome;
  /** Every VMIM of the VMI at the end of the step: the eviction's alone, or something migrated it twice. */
  vmimsOfVmi: string[];
  exhaustiveProbes: number;
  vmiNode?: string;
}

export interface StoryResult {
  scenario: Scenario;
  succeed: MigrationOutcome;
  fail: MigrationOutcome;
  evict: EvictionOutcome;
  drain: DrainPlan;
  drainTable: string;
  /** Seconds from the start of the demo to the end of the story. */
  seconds: number;
}

export interface StoryOptions {
  kc: KubeConfig;
  scenario: Scenario;
  progress: Progress;
  log: Logger;
  webhookConfigName?: string;
  /** How long one migration may take before the step fails (default 60 s). */
  stepTimeoutMs?: number;
}

/** The running demo: its components stay up until `stop()`. */
export interface StoryRun {
  result: StoryResult;
  stack: Stack;
  stop(opts?: { deleteNodes?: boolean }): Promise<void>;
}

export async function runStory(o: StoryOptions): Promise<StoryRun> {
  const { kc, scenario, progress, log } = o;
  const note = (t: string): void => progress.line(t);

  progress.step('Installing the CRDs (crds/) and the KubeVirt stand-in CRDs');
  const [crds] = await Promise.all([installOperatorCrds(kc), installKubevirtStandins(kc)]);
  note(`${crds.length} operator CRDs and 2 KubeVirt stand-in CRDs established`);
  // Before anything is removed: a demo running in another terminal must not lose its nodes.
  await assertNoOtherController(kc, scenario.operatorNamespace);
  await removeLeftovers(kc, scenario, note);

  progress.step('Starting the controller, its VMIM webhook and a simulated fleet');
  const stack = await startStack({ kc, scenario, log, note, ...(o.webhookConfigName ? { webhookConfigName: o.webhookConfigName } : {}) });
  let watch: PhaseWatch | undefined;
  const stop = async (opts: { deleteNodes?: boolean } = {}): Promise<void> => {
    await watch?.stop();
    await stack.stop(opts);
  };
  try {
    for (const spec of scenario.nodes) note(`node ${spec.name.padEnd(scenario.prefix.length + 14)} ${scenario.notes[spec.name] ?? ''}`);
    note(`${scenario.nodes.length} stand-in nodes, each running the real agent over a fake sysfs tree; NVIDIA nodes use the nvml backend (the NVML helper over go-nvml's mock as a stand-in driver), the others a simulated vendor driver`);
    await stack.fleet.stopAgent(scenario.staleNode);
    note(`stopped the agent of ${scenario.staleNode}: its Lease expires in a few seconds`);

    progress.step('Starting VMIs (KubeVirt stand-in: VMI, virt-launcher pod, device allocation)');
    await startVms(o, stack);
    await waitForControllerView(o, stack);
    watch = await watchPhases(kc, scenario.namespace, progress, log.child({ part: 'progress' }));

    progress.step(`(a) MdevMigration ${scenario.succeed.migration}: move ${scenario.succeed.vmi} off ${nodeOf(scenario, scenario.succeed.vmi)}`);
    // The phase watch has already printed the outcome; the table says why that node.
    const succeed = await migrate(o, stack, scenario.succeed.migration, scenario.succeed.vmi);
    showCandidates(progress, succeed);

    progress.step(`(b) MdevMigration ${scenario.fail.migration}: move ${scenario.fail.vmi} off ${nodeOf(scenario, scenario.fail.vmi)} (driver branch 535)`);
    const fail = await migrate(o, stack, scenario.fail.migration, scenario.fail.vmi);
    showCandidates(progress, fail);

    progress.step(`(c) A drain evicts ${scenario.evict.vmi}: VirtualMachineInstanceMigration ${scenario.evict.vmim} created directly, with no target`);
    const evict = await evictAsDrainWould(o, stack);

    progress.step(`(d) mdev-operator plan-drain ${scenario.drain.node}`);
    await waitForAgentsToRepublish(o, stack);
    const drain = await planDrain(kc, { node: scenario.drain.node, namespace: scenario.operatorNamespace, probe: false, log });
    const drainTable = renderDrainPlan(drain, 'table', { maxCellWidth: DEMO_CELL_WIDTH });
    progress.block(drainTable);

    return { result: { scenario, succeed, fail, evict, drain, drainTable, seconds: progress.elapsed() }, stack, stop };
  } catch (err) {
    await stop({ deleteNodes: false });
    throw err;
  }
}

function nodeOf(s: Scenario, vmi: string): string {
  return s.vms.find((v) => v.name === vmi)?.node ?? '?';
}

/** VMIs on one node start one after another (each takes free devices); nodes in parallel. */
async function startVms(o: StoryOptions, stack: Stack): Promise<void> {
  const byNode = new Map<string, Scenario['vms']>();
  for (const vm of o.scenario.vms) byNode.set(vm.node, [...(byNode.get(vm.node) ?? []), vm]);
  await Promise.all(
    [...byNode.values()].map(async (vms) => {
      for (const vm of vms) {
        const started = await stack.fleet.startVm({ namespace: o.scenario.namespace, name: vm.name, node: vm.node, devices: vm.devices, typeId: vm.typeId });
        o.progress.line(`vmi/${vm.name} running on ${vm.node} with ${started.devices.length} vGPU${started.devices.length === 1 ? '' : 's'}: ${vm.purpose}`);
      }
    }),
  );
}

/**
 * The controller decides on its informer caches: wait until they show every VMI with its devices
 * and the stale node's Lease as expired, so the story does not race the watches.
 */
async function waitForControllerView(o: StoryOptions, stack: Stack): Promise<void> {
  const { caches } = stack.services;
  const ns = o.scenario.namespace;
  await eventually('the controller to see every VMI and its devices, and the stale agent Lease expire', 30_000, () => {
    const devices = caches.devices.list();
    const vmisSeen = o.scenario.vms.every((vm) => {
      const vmi = caches.vmis.get(objectKey(ns, vm.name));
      return vmi !== undefined && devices.filter((d) => d.status?.consumer?.uid === vmi.metadata.uid).length === vm.devices;
    });
    const stale = caches.leases.list().find((l) => l.nodeName === o.scenario.staleNode);
    return vmisSeen && !agentLeaseFresh(stale, Date.now());
  });
  o.progress.line(`the controller sees ${o.scenario.vms.length} VMIs with their vGPUs; agent of ${o.scenario.staleNode} is gone (Lease expired)`);
}

/**
 * After migrations the agents of the source and target nodes republish which device each VMI uses
 * (the nvml backend also rereads the devices: a running vGPU's string differs from a free one's).
 * The drain plan reads the devices, so it waits until every VMI's devices are on the VMI's node.
 */
async function waitForAgentsToRepublish(o: StoryOptions, stack: Stack): Promise<void> {
  const { caches } = stack.services;
  const ns = o.scenario.namespace;
  await eventually('the agents to republish the devices of the migrated VMIs', 30_000, () => {
    const devices = caches.devices.list();
    return o.scenario.vms.every((vm) => {
      const vmi = caches.vmis.get(objectKey(ns, vm.name));
      const used = devices.filter((d) => d.status?.consumer?.uid === vmi?.metadata.uid);
      return vmi !== undefined && used.length === vm.devices && used.every((d) => d.spec.nodeName === vmi.status?.nodeName);
    });
  });
}

/** Probes a search without equivalence classes would send for this VMI now (nothing is probed). */
async function exhaustiveBaseline(stack: Stack, vmi: Vmi): Promise<number> {
  const d = await stack.services.decisions.decide({ vmi, request: { migrationUid: 'demo-baseline', allowCreateTarget: false }, probe: false, countExhaustive: true });
  return d.exhaustiveProbes;
}

function cachedVmi(o: StoryOptions, stack: Stack, name: string): Vmi {
  const vmi = stack.services.caches.vmis.get(objectKey(o.scenario.namespace, name));
  if (!vmi) throw new Error(`VMI ${o.scenario.namespace}/${name} is not in the controller's cache`);
  return vmi;
}

async function migrate(o: StoryOptions, stack: Stack, name: string, vmiName: string): Promise<MigrationOutcome> {
  const { kc, scenario } = o;
  const ns = scenario.namespace;
  const exhaustiveProbes = await exhaustiveBaseline(stack, cachedVmi(o, stack, vmiName));
  const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name, namespace: ns }, spec: { vmiName } };
  await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }), body });
  o.progress.line(`created mdevmig/${name} (spec.vmiName: ${vmiName})`);
  const m = await eventually(`MdevMigration ${ns}/${name} to succeed or fail`, o.stepTimeoutMs ?? 60_000, async () => {
    const got = await readMigration(o, name);
    return got && (got.status?.phase === 'Succeeded' || got.status?.phase === 'Failed') ? got : undefined;
  });
  const target = m.status?.targetNode;
  // Succeeded means the VMIM finished; the VMI's status follows from the simulator's last write.
  const vmiNode = m.status?.phase === 'Succeeded' && target ? await waitVmiOn(o, vmiName, target) : (await getVmi(kc, ns, vmiName))?.status?.nodeName;
  return outcomeOf(m, exhaustiveProbes, vmiNode);
}

async function evictAsDrainWould(o: StoryOptions, stack: Stack): Promise<EvictionOutcome> {
  const { kc, scenario, progress } = o;
  const ns = scenario.namespace;
  const { vmim: name, vmi: vmiName } = scenario.evict;
  const vmi = cachedVmi(o, stack, vmiName);
  await waitForWebhook(o, vmi);
  const exhaustiveProbes = await exhaustiveBaseline(stack, vmi);
  let created;
  try {
    created = parseVmim(await kubeRequest(kc, { method: 'POST', path: resourcePath(VMIM_RESOURCE, { namespace: ns }), body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name, namespace: ns }, spec: { vmiName } } }));
  } catch (err) {
    const refusal = (err as Error).message;
    progress.line(`the API server refused the VMIM: ${refusal}`);
    return { vmim: name, refusal, exhaustiveProbes, vmimsOfVmi: [] };
  }
  const pinnedNode = created ? vmimPinnedHostname(created) : undefined;
  const record = created?.metadata.annotations?.[ANNOTATION_MIGRATION];
  progress.line(`the webhook admitted it with spec.addedNodeSelector {${LABEL_HOSTNAME}: ${pinnedNode ?? '(none)'}} and recorded mdevmig/${record ?? '(none)'}`);
  const vmim = await eventually(`VMIM ${ns}/${name} to finish`, o.stepTimeoutMs ?? 60_000, async () => {
    const v = await getVmim(kc, ns, name);
    return v?.status?.phase === 'Succeeded' || v?.status?.phase === 'Failed' ? v : undefined;
  });
  const vmiNode = vmim.status?.phase === 'Succeeded' && pinnedNode ? await waitVmiOn(o, vmiName, pinnedNode) : (await getVmi(kc, ns, vmiName))?.status?.nodeName;
  const recordedMigration = record ? await followedRecord(o, record) : undefined;
  const recorded = recordedMigration ? outcomeOf(recordedMigration, exhaustiveProbes, vmiNode) : undefined;
  const vmimsOfVmi = (await listVmims(kc, { namespace: ns })).filter((v) => v.spec.vmiName === vmiName).map((v) => v.metadata.name).sort();
  // The phase watch has printed where the VMI went; the recorded decision says why there.
  if (recorded) showCandidates(progress, recorded);
  else progress.line(`no MdevMigration was recorded for VMIM ${name}${record ? ` (annotation names ${record})` : ''}`);
  return { vmim: name, ...(pinnedNode ? { pinnedNode } : {}), ...(vmim.status?.phase ? { vmimPhase: vmim.status.phase } : {}), ...(recorded ? { recorded } : {}), exhaustiveProbes, ...(vmiNode ? { vmiNode } : {}), vmimsOfVmi };
}

/** The controller follows a recorded MdevMigration like its own: wait briefly for its final phase. */
async function followedRecord(o: StoryOptions, name: string): Promise<MdevMigration | undefined> {
  try {
    return await eventually(`MdevMigration ${name} to reach a final phase`, 10_000, async () => {
      const m = await readMigration(o, name);
      return m?.status?.phase === 'Succeeded' || m?.status?.phase === 'Failed' ? m : undefined;
    });
  } catch {
    return readMigration(o, name).catch(() => undefined);
  }
}

/**
 * The API server loads webhook configurations through an informer, so a new one takes a moment to
 * apply. A dry-run VMIM pinned to the VMI's own node is refused by our webhook (never a target)
 * and admitted without it: refusal means the webhook is live. Dry runs write nothing.
 */
async function waitForWebhook(o: StoryOptions, vmi: Vmi): Promise<void> {
  const ns = o.scenario.namespace;
  const body = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'demo-webhook-check', namespace: ns }, spec: { vmiName: vmi.metadata.name, addedNodeSelector: { [LABEL_HOSTNAME]: vmi.status?.nodeName ?? '' } } };
  await eventually('the API server to call the VMIM webhook', 30_000, async () => {
    try {
      await kubeRequest(o.kc, { method: 'POST', path: resourcePath(VMIM_RESOURCE, { namespace: ns }), query: { dryRun: 'All' }, body });
      return undefined;
    } catch (err) {
      return /denied the request: mdev-operator/.test((err as Error).message) ? true : undefined;
    }
  });
}

async function readMigration(o: StoryOptions, name: string): Promise<MdevMigration | undefined> {
  const raw = await kubeRequest(o.kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: o.scenario.namespace, name }) });
  return parseFromWire('MdevMigration', raw, o.log);
}

async function waitVmiOn(o: StoryOptions, vmiName: string, node: string): Promise<string | undefined> {
  try {
    return await eventually(`VMI ${vmiName} to run on ${node}`, 10_000, async () => ((await getVmi(o.kc, o.scenario.namespace, vmiName))?.status?.nodeName === node ? node : undefined));
  } catch {
    return (await getVmi(o.kc, o.scenario.namespace, vmiName))?.status?.nodeName;
  }
}

function outcomeOf(m: MdevMigration, exhaustiveProbes: number, vmiNode: string | undefined): MigrationOutcome {
  const s = m.status;
  return {
    name: m.metadata.name,
    phase: s?.phase ?? 'Unknown',
    ...(s?.sourceNode ? { sourceNode: s.sourceNode } : {}),
    ...(s?.targetNode ? { targetNode: s.targetNode } : {}),
    ...(s?.message ? { message: s.message } : {}),
    probes: s?.probes ?? 0,
    exhaustiveProbes,
    candidates: (s?.candidates ?? []).map((c) => ({ node: c.node, verdict: c.verdict, ...(c.message ? { message: c.message } : {}) })),
    ...(vmiNode ? { vmiNode } : {}),
  };
}

/** Reasons are clipped to this width so the tables fit a terminal (the full text is in status.candidates). */
const DEMO_CELL_WIDTH = 90;

function showCandidates(progress: Progress, m: MigrationOutcome): void {
  const rows = m.candidates.map((c) => [c.node, c.verdict, c.message ?? '']);
  progress.block(renderTable(['NODE', 'VERDICT', 'REASON'], rows, { maxCellWidth: DEMO_CELL_WIDTH }));
  progress.line(`decision cost ${m.probes} probe${m.probes === 1 ? '' : 's'}; an exhaustive search would have sent ${m.exhaustiveProbes}`);
}

async function eventually<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
