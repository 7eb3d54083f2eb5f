// The invariants every fault scenario must leave intact (issue #9), checked against what the API
// server holds, scoped to the namespaces and nodes a scenario owns so test files sharing one
// cluster never see each other's objects:
//   1. every VMI runs on exactly one node (one live launcher pod, there; its devices there),
//   2. no capacity claim (MdevNode status.claims) is held by a vanished, failed or settled migration,
//   3. no MdevDevice is missing or stale once its agent is back,
//   4. no duplicate VMIM (one per attempt; never two live or two successful ones),
//   5. every MdevMigration ends in a terminal phase with a reason.
// The system converges asynchronously (the sweeper, agents' passes), so `expectInvariants` polls
// until no violation is left or its deadline passes, then fails listing every violation.
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { CONDITION_TARGET_DEVICE_VERIFIED, LABEL_NODE, LABEL_VERSION_HASH, versionHash, type MdevDevice, type MdevMigration, type MdevNode } from '../../../src/api/v1alpha1/index.ts';
import { MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, NODES } from '../../../src/controller/resources.ts';
import { isOwnedBy } from '../../../src/controller/vmim-driver.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { listVmims, listVmis } from '../../../src/kubevirt/client.ts';
import { APP_VIRT_LAUNCHER, isVmimFinal, LABEL_APP, LABEL_CREATED_BY, type Vmi, type Vmim } from '../../../src/kubevirt/types.ts';

export interface InvariantScope {
  kc: KubeConfig;
  /** Namespaces whose VMIs, VMIMs and MdevMigrations belong to the scenario. */
  namespaces: readonly string[];
  /** Nodes whose MdevDevices belong to the scenario. */
  nodes: readonly string[];
  /**
   * Device object names each node's agent currently discovers (e.g. from `agent.lastPass()`),
   * for nodes whose agent runs; nodes without an entry are not checked for missing devices.
   */
  expectedDevices?: (node: string) => readonly string[] | undefined;
}

interface RawPod {
  metadata: { name: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

interface World {
  vmis: Vmi[];
  vmims: Vmim[];
  migrations: MdevMigration[];
  devices: MdevDevice[];
  mdevNodes: MdevNode[];
  pods: Map<string, RawPod[]>;
  nodeNames: Set<string>;
}

async function items<T>(kc: KubeConfig, path: string, query: Record<string, string> = {}): Promise<T[]> {
  return ((await kubeRequest(kc, { method: 'GET', path, query })) as { items?: T[] }).items ?? [];
}

async function readWorld(scope: InvariantScope): Promise<World> {
  const { kc } = scope;
  const world: World = { vmis: [], vmims: [], migrations: [], devices: [], mdevNodes: [], pods: new Map(), nodeNames: new Set() };
  for (const ns of scope.namespaces) {
    world.vmis.push(...(await listVmis(kc, { namespace: ns })));
    world.vmims.push(...(await listVmims(kc, { namespace: ns })));
    world.migrations.push(...(await items<MdevMigration>(kc, resourcePath(MDEV_MIGRATIONS, { namespace: ns }))));
    for (const pod of await items<RawPod & { metadata: { labels?: Record<string, string> } }>(kc, `/api/v1/namespaces/${ns}/pods`, { labelSelector: `${LABEL_APP}=${APP_VIRT_LAUNCHER}` })) {
      const uid = pod.metadata.labels?.[LABEL_CREATED_BY] ?? '';
      world.pods.set(uid, [...(world.pods.get(uid) ?? []), pod]);
    }
  }
  for (const node of scope.nodes) {
    world.devices.push(...(await items<MdevDevice>(kc, resourcePath(MDEV_DEVICES), { labelSelector: `${LABEL_NODE}=${node}` })));
    const n = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_NODES, { name: node }) }).catch(() => undefined)) as MdevNode | undefined;
    if (n) world.mdevNodes.push(n);
  }
  for (const n of await items<{ metadata: { name: string } }>(kc, resourcePath(NODES))) world.nodeNames.add(n.metadata.name);
  return world;
}

function vmiOnOneNode(w: World): string[] {
  const out: string[] = [];
  for (const vmi of w.vmis) {
    const id = `VMI ${vmi.metadata.namespace}/${vmi.metadata.name}`;
    const node = vmi.status?.nodeName;
    if (!node) {
      out.push(`${id} has no status.nodeName`);
      continue;
    }
    const live = (w.pods.get(vmi.metadata.uid) ?? []).filter((p) => !p.metadata.deletionTimestamp && !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''));
    const podNodes = [...new Set(live.map((p) => p.spec?.nodeName ?? '?'))];
    if (live.length !== 1 || podNodes[0] !== node) out.push(`${id} on ${node} has ${live.length} live launcher pod(s) on [${podNodes.join(', ')}]`);
    const elsewhere = w.devices.filter((d) => d.status?.consumer?.uid === vmi.metadata.uid && d.spec.nodeName !== node);
    for (const d of elsewhere) out.push(`${id} runs on ${node} but MdevDevice ${d.metadata.name} on ${d.spec.nodeName} still names it as consumer`);
  }
  return out;
}

function noLeakedClaim(w: World, allMigrations: Map<string, MdevMigration>): string[] {
  const out: string[] = [];
  for (const n of w.mdevNodes) {
    for (const c of n.status?.claims ?? []) {
      const m = allMigrations.get(`${c.migration.namespace}/${c.migration.name}`);
      const id = `capacity claim on ${n.metadata.name} (pool ${c.pool}) by ${c.migration.namespace}/${c.migration.name}`;
      if (!m || m.metadata.uid !== c.migration.uid) out.push(`${id}: that migration is gone`);
      else if (m.status?.phase === 'Failed') out.push(`${id}: that migration Failed`);
      else if (m.status?.phase === 'Succeeded' && m.status.conditions?.some((x) => x.type === CONDITION_TARGET_DEVICE_VERIFIED)) out.push(`${id}: that migration Succeeded and settled, and the claim was not released`);
      else if (m.spec.dryRun) out.push(`${id}: a dry run must not claim`);
      else if (m.status?.targetNode && m.status.targetNode !== n.metadata.name && m.status.phase !== 'Probing') out.push(`${id}: that migration targets ${m.status.targetNode} now`);
    }
  }
  return out;
}

function devicesFresh(w: World, scope: InvariantScope): string[] {
  const out: string[] = [];
  const vmiUids = new Set(w.vmis.map((v) => v.metadata.uid));
  const scopedNs = new Set(scope.namespaces);
  for (const d of w.devices) {
    const id = `MdevDevice ${d.metadata.name}`;
    if (!w.nodeNames.has(d.spec.nodeName)) out.push(`${id}: its Node ${d.spec.nodeName} is gone but the device was not garbage-collected`);
    const v = d.status?.migrationVersion;
    if (v !== undefined && d.metadata.labels?.[LABEL_VERSION_HASH] !== versionHash(v)) out.push(`${id}: version-hash label does not match status.migrationVersion`);
    const c = d.status?.consumer;
    if (c && scopedNs.has(c.namespace) && !vmiUids.has(c.uid)) out.push(`${id}: consumer ${c.namespace}/${c.name} no longer exists`);
  }
  for (const node of scope.nodes) {
    const expected = scope.expectedDevices?.(node);
    if (!expected) continue;
    const have = new Set(w.devices.filter((d) => d.spec.nodeName === node).map((d) => d.metadata.name));
    const want = new Set(expected);
    for (const name of want) if (!have.has(name)) out.push(`MdevDevice ${name} of node ${node} is missing`);
    for (const name of have) if (!want.has(name)) out.push(`MdevDevice ${name} of node ${node} is stale (the agent no longer discovers it)`);
  }
  return out;
}

function noDuplicateVmim(w: World): string[] {
  const out: string[] = [];
  const liveByVmi = new Map<string, string[]>();
  for (const v of w.vmims) {
    if (isVmimFinal(v)) continue;
    const key = `${v.metadata.namespace}/${v.spec.vmiName}`;
    liveByVmi.set(key, [...(liveByVmi.get(key) ?? []), v.metadata.name]);
  }
  for (const [vmi, names] of liveByVmi) if (names.length > 1) out.push(`VMI ${vmi} has ${names.length} unfinished VMIMs: ${names.join(', ')}`);
  for (const m of w.migrations) {
    const owned = w.vmims.filter((v) => v.metadata.namespace === m.metadata.namespace && isOwnedBy(v, m.metadata.uid ?? ''));
    const id = `MdevMigration ${m.metadata.namespace}/${m.metadata.name}`;
    if (owned.length > Math.max(m.status?.attempts ?? 0, 0)) out.push(`${id} owns ${owned.length} VMIMs but recorded ${m.status?.attempts ?? 0} attempt(s)`);
    const won = owned.filter((v) => v.status?.phase === 'Succeeded');
    if (won.length > 1) out.push(`${id} has ${won.length} successful VMIMs`);
    if (m.status?.phase === 'Succeeded' && won.length !== 1) out.push(`${id} Succeeded with ${won.length} successful VMIMs`);
  }
  return out;
}

function terminalWithReason(w: World): string[] {
  const out: string[] = [];
  for (const m of w.migrations) {
    const id = `MdevMigration ${m.metadata.namespace}/${m.metadata.name}`;
    const phase = m.status?.phase;
    const terminal = phase === 'Succeeded' || phase === 'Failed' || (phase === 'Planned' && m.spec.dryRun);
    if (!terminal) out.push(`${id} is not terminal (phase ${phase ?? 'none'}: ${m.status?.message ?? ''})`);
    const reason = m.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
    if (terminal && (!reason || !m.status?.message)) out.push(`${id} ended ${phase} without a reason and message`);
  }
  return out;
}

/** Every invariant violation now, as sentences naming the object. Empty = all hold. */
export async function findViolations(scope: InvariantScope): Promise<string[]> {
  const w = await readWorld(scope);
  // Claims may name migrations of any namespace; look those up individually.
  const all = new Map(w.migrations.map((m) => [`${m.metadata.namespace}/${m.metadata.name}`, m]));
  for (const c of w.mdevNodes.flatMap((n) => n.status?.claims ?? [])) {
    const r = c.migration;
    if (all.has(`${r.namespace}/${r.name}`)) continue;
    try {
      all.set(`${r.namespace}/${r.name}`, (await kubeRequest(scope.kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: r.namespace, name: r.name }) })) as MdevMigration);
    } catch {
      /* gone: reported below */
    }
  }
  return [...vmiOnOneNode(w), ...noLeakedClaim(w, all), ...devicesFresh(w, scope), ...noDuplicateVmim(w), ...terminalWithReason(w)];
}

/** Polls until every invariant holds; throws listing the violations left at the deadline. */
export async function expectInvariants(scope: InvariantScope, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string[];
  for (;;) {
    last = await findViolations(scope);
    if (last.length === 0) return;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Invariants violated after ${timeoutMs / 1000}s:\n  - ${last.join('\n  - ')}`);
}
