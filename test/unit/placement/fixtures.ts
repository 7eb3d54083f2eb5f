// Builders for placement tests, and a stand-in vendor driver: a pure compatibility rule answering
// probes the way agents would.

import { targetId } from '../../../src/placement/index.ts';
import type { Capacity, Claim, Device, NodeInfo, ProbeAnswer, ProbeRequest, Prober, Request, SourceVm } from '../../../src/placement/index.ts';

export const VM_UID = '11111111-2222-3333-4444-555555555555';
export const MIGRATION_UID = 'mig-1';

export function node(name: string, over: Partial<NodeInfo> = {}): NodeInfo {
  return { name, labels: { 'kubernetes.io/hostname': name }, taints: [], unschedulable: false, agentFresh: true, ...over };
}

/** A device; its pool defaults to its type (the device plugin's resource for the type name). */
export function device(name: string, nodeName: string, typeId: string, version: string | undefined, over: Partial<Device> = {}): Device {
  const d: Device = { name, nodeName, typeId, pool: typeId, parentAddress: '0000:41:00.4', migratable: version !== undefined, ...over };
  if (version !== undefined) d.version = version;
  return d;
}

export function capacity(nodeName: string, parentAddress: string, typeId: string, availableInstances: number, version?: string): Capacity {
  const c: Capacity = { nodeName, parentAddress, typeId, pool: typeId, availableInstances };
  if (version !== undefined) c.version = version;
  return c;
}

/** `units` of `pool` on `nodeName` claimed by migration `migrationUid`. */
export function claim(nodeName: string, pool: string, migrationUid: string, units = 1): Claim {
  return { nodeName, pool, migrationUid, units };
}

export function vm(nodeName: string, over: Partial<SourceVm> = {}): SourceVm {
  return { namespace: 'vms', name: 'vm-a', uid: VM_UID, nodeName, nodeSelector: {}, tolerations: [], ...over };
}

export function request(over: Partial<Request> = {}): Request {
  return { migrationUid: MIGRATION_UID, allowCreateTarget: false, ...over };
}

/** NVIDIA-like version string: board + host driver branch. */
export function nv(host: string, board = 'H100'): string {
  return `nv1;board=${board};type=nvidia-1012;host=${host}`;
}

/** Stand-in driver rule: same board and same host driver branch (the part before the first dot). */
export function nvidiaLikeAccepts(_typeId: string, source: string, target: string): boolean {
  const parse = (s: string) => Object.fromEntries(s.split(';').slice(1).map((kv) => kv.split('=') as [string, string]));
  const a = parse(source);
  const b = parse(target);
  return a.board === b.board && a.host?.split('.')[0] === b.host?.split('.')[0];
}

export type Rule = (typeId: string, sourceVersion: string, targetVersion: string) => boolean;

/** A prober backed by a rule (stand-in for the agents), recording every request it receives. */
export function ruleProber(rule: Rule, reason = 'EINVAL: host driver branch differs'): Prober & { sent: ProbeRequest[] } {
  const sent: ProbeRequest[] = [];
  const prober = async (probes: ProbeRequest[]): Promise<ProbeAnswer[]> => {
    sent.push(...probes);
    return probes.map((request) => ({
      request,
      results: request.targets.map((t) => {
        const accepted = rule(request.typeId, request.sourceVersion, t.version);
        return accepted ? { target: targetId(t), accepted } : { target: targetId(t), accepted, reason };
      }),
    }));
  };
  return Object.assign(prober, { sent });
}
