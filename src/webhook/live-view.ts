// The cluster as the decision service reads it, listed once from the API server (no informers):
// what `explain` and `plan-drain` decide on. Verdicts agents already gave in MdevProbe status warm
// the verdict cache, so a read-only command explains known classes without sending a probe.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { parseFromWire, versionHash, type MdevDevice, type MdevNode, type MdevProbe } from '../api/v1alpha1/index.ts';
import { LEASES, MDEV_DEVICES, MDEV_NODES, MDEV_PROBES, NODES, parseAgentLease, parseNode, type AgentLease, type CachedDevice, type ClusterView, type NodeObject } from '../controller/services.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath, type ResourceRef } from '../kube/resource.ts';
import { listVmis } from '../kubevirt/client.ts';
import type { Vmi } from '../kubevirt/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { VerdictCache } from '../placement/index.ts';

export interface LiveState {
  view: ClusterView;
  vmis: Vmi[];
  probes: MdevProbe[];
}

async function listRaw(kc: KubeConfig, ref: ResourceRef, namespace?: string): Promise<unknown[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(ref, namespace ? { namespace } : {}) })) as { items?: unknown[] } | undefined;
  return res?.items ?? [];
}

function defined<T>(items: (T | undefined)[]): T[] {
  return items.filter((i): i is T => i !== undefined);
}

/** One list per resource, in parallel; `namespace` is the operator's (agent Leases). */
export async function loadLiveState(kc: KubeConfig, namespace: string, log: Logger): Promise<LiveState> {
  const [nodes, leases, devices, mdevNodes, probes, vmis] = await Promise.all([
    listRaw(kc, NODES).then((l) => defined<NodeObject>(l.map(parseNode))),
    listRaw(kc, LEASES, namespace).then((l) => defined<AgentLease>(l.map(parseAgentLease))),
    listRaw(kc, MDEV_DEVICES).then((l) => defined<MdevDevice>(l.map((o) => parseFromWire('MdevDevice', o, log)))),
    listRaw(kc, MDEV_NODES).then((l) => defined<MdevNode>(l.map((o) => parseFromWire('MdevNode', o, log)))),
    listRaw(kc, MDEV_PROBES).then((l) => defined<MdevProbe>(l.map((o) => parseFromWire('MdevProbe', o, log)))),
    listVmis(kc, {}, log),
  ]);
  return { view: { nodes, leases, devices, mdevNodes }, vmis, probes };
}

/**
 * Seeds `cache` with the answers in probe status, keyed by (type, source string, the tested
 * device's current string). Only results for the probe's current generation count. The controller
 * deletes a node's probes when a device's string changes (ProbeClient.forgetNode), so a stale answer
 * does not outlive the string it was given for by more than the probe TTL.
 */
export function warmCacheFromProbes(cache: VerdictCache, probes: readonly MdevProbe[], devices: readonly CachedDevice[]): number {
  const versionOf = new Map(devices.map((d) => [d.metadata.name, d.status?.migrationVersion]));
  // A result that names the tested version's digest holds for that version, wherever a device has it now.
  const byHash = new Map<string, string>();
  for (const d of devices) if (d.status?.migrationVersion !== undefined) byHash.set(versionHash(d.status.migrationVersion), d.status.migrationVersion);
  let seeded = 0;
  for (const p of probes) {
    if (p.status?.observedGeneration === undefined || p.status.observedGeneration < (p.metadata.generation ?? 1)) continue;
    for (const r of p.status.results ?? []) {
      const target = r.device === undefined ? undefined : r.targetVersionHash !== undefined ? byHash.get(r.targetVersionHash) : versionOf.get(r.device);
      if (target === undefined) continue;
      cache.set(p.spec.typeId, p.spec.sourceVersion, target, { accepted: r.accepted, reason: r.reason });
      seeded++;
    }
  }
  return seeded;
}

/** The VMIs using mediated devices on `node`: consumers of that node's MdevDevices, by uid. */
export function mdevVmisOnNode(state: LiveState, node: string): { vmi: Vmi; devices: string[] }[] {
  const byUid = new Map<string, string[]>();
  for (const d of state.view.devices) {
    const uid = d.status?.consumer?.uid;
    if (d.spec.nodeName !== node || uid === undefined) continue;
    byUid.set(uid, [...(byUid.get(uid) ?? []), d.metadata.name]);
  }
  const out: { vmi: Vmi; devices: string[] }[] = [];
  for (const vmi of state.vmis) {
    const devs = byUid.get(vmi.metadata.uid);
    if (devs) out.push({ vmi, devices: devs.sort() });
  }
  return out.sort((a, b) => `${a.vmi.metadata.namespace}/${a.vmi.metadata.name}`.localeCompare(`${b.vmi.metadata.namespace}/${b.vmi.metadata.name}`));
}
