// Counting a component's API requests from kube-apiserver's audit log (the local control plane
// started with `audit`, see dev/localcluster): every non-watch request, with the User-Agent each
// component sends (src/kube/user-agent.ts, dev/sim/user-agents.ts). Counted on the API server's
// side, so nothing a client forgets to count is missed. Lease requests (leader election, agent
// heartbeats) and the controller's poll of the KubeVirt CR (a LIST every 30 s,
// src/kubevirt/kubevirt-config.ts) are periodic, not per migration, and are counted apart.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Wall-clock interval (ms since the epoch) whose requests are attributed to one group. */
export interface Window {
  from: number;
  to: number;
}

export interface RequestCounts {
  /** create, update, patch, delete, deletecollection (Leases excluded). */
  writes: number;
  /** get and list (Leases excluded). */
  reads: number;
  /** list calls (included in reads). */
  lists: number;
  leases: number;
  /** The periodic LISTs of the KubeVirt CR (not in reads or lists). */
  kubevirtPolls: number;
  /** `verb resource` → count, for the notes. */
  byVerb: Record<string, number>;
}

interface AuditEvent {
  stage?: string;
  verb?: string;
  userAgent?: string;
  requestReceivedTimestamp?: string;
  objectRef?: { resource?: string; subresource?: string };
}

const WRITES = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const READS = new Set(['get', 'list']);

export function emptyCounts(): RequestCounts {
  return { writes: 0, reads: 0, lists: 0, leases: 0, kubevirtPolls: 0, byVerb: {} };
}

/** Adds one audit event to `c` (exported for the unit test). */
export function countEvent(c: RequestCounts, e: AuditEvent): void {
  const verb = e.verb ?? '';
  const resource = e.objectRef ? `${e.objectRef.resource ?? ''}${e.objectRef.subresource ? `/${e.objectRef.subresource}` : ''}` : 'nonresource';
  if (e.objectRef?.resource === 'leases') {
    c.leases++;
    return;
  }
  if (e.objectRef?.resource === 'kubevirts' && verb === 'list') {
    c.kubevirtPolls++;
    return;
  }
  if (!WRITES.has(verb) && !READS.has(verb)) return;
  if (WRITES.has(verb)) c.writes++;
  else c.reads++;
  if (verb === 'list') c.lists++;
  const key = `${verb} ${resource}`;
  c.byVerb[key] = (c.byVerb[key] ?? 0) + 1;
}

/** Requests by User-Agent prefix in each group of windows; the log is read after a short flush delay. */
export function auditWindows(path: string) {
  return {
    async perWindow<G extends string>(userAgentPrefix: string, groups: Record<G, Window[]>): Promise<Record<G, RequestCounts>> {
      // Batch mode: events are written shortly after the request completes.
      await new Promise((r) => setTimeout(r, 2000));
      const out = Object.fromEntries(Object.keys(groups).map((g) => [g, emptyCounts()])) as Record<G, RequestCounts>;
      const entries = Object.entries(groups) as [G, Window[]][];
      const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        if (!line.includes(userAgentPrefix)) continue;
        const e = JSON.parse(line) as AuditEvent;
        if (e.stage !== 'ResponseComplete' || !e.userAgent?.startsWith(userAgentPrefix)) continue;
        const at = Date.parse(e.requestReceivedTimestamp ?? '');
        for (const [g, windows] of entries) if (windows.some((w) => at >= w.from && at <= w.to)) countEvent(out[g], e);
      }
      return out;
    },
  };
}
