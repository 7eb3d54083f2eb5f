// MdevMigration status as pure functions: the conditions each phase implies (Ready and
// Progressing, metav1.Condition style with observedGeneration and lastTransitionTime that moves
// only when the status flips), and the decision fields (candidates bounded to 50 plus totals,
// probes, decisionMillis, device pairs).
import { LIMITS, type Condition, type DevicePair, type MdevMigration, type MdevMigrationStatus, type Phase } from '../api/v1alpha1/index.ts';
import type { ClaimDemand } from './claims.ts';
import { firstCandidates, type DecisionResult } from './decision.ts';

type ConditionStatus = Condition['status'];

export interface PhaseChange {
  phase: Phase;
  /** CamelCase reason for both conditions, e.g. NoCompatibleNode. */
  reason: string;
  message: string;
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function clamp(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** Ready and Progressing for a phase: Ready is True at the goal (Succeeded, or Planned for a dry run). */
export function phaseConditionStatuses(phase: Phase, dryRun: boolean): { ready: ConditionStatus; progressing: ConditionStatus } {
  switch (phase) {
    case 'Succeeded':
      return { ready: 'True', progressing: 'False' };
    case 'Failed':
      return { ready: 'False', progressing: 'False' };
    case 'Planned':
      return dryRun ? { ready: 'True', progressing: 'False' } : { ready: 'Unknown', progressing: 'True' };
    default:
      return { ready: 'Unknown', progressing: 'True' };
  }
}

/** Sets one condition in `list` (a copy), keeping lastTransitionTime unless the status changed. */
export function setCondition(list: readonly Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: number): Condition[] {
  const prior = list.find((c) => c.type === next.type);
  const lastTransitionTime = prior && prior.status === next.status ? prior.lastTransitionTime : rfc3339(now);
  const cond: Condition = { ...next, lastTransitionTime };
  return [...list.filter((c) => c.type !== next.type), cond].sort((a, b) => (a.type < b.type ? -1 : 1));
}

export function phaseConditions(m: MdevMigration, change: PhaseChange, now: number): Condition[] {
  const { ready, progressing } = phaseConditionStatuses(change.phase, m.spec.dryRun);
  const observedGeneration = m.metadata.generation ?? 1;
  const message = clamp(change.message, LIMITS.message);
  let list = m.status?.conditions ?? [];
  list = setCondition(list, { type: 'Ready', status: ready, reason: change.reason, message, observedGeneration }, now);
  list = setCondition(list, { type: 'Progressing', status: progressing, reason: change.reason, message, observedGeneration }, now);
  return list;
}

/**
 * The status patch for a phase change: phase, message, conditions and observedGeneration, and
 * completionTime when the change finishes the migration (kept if it was set before).
 */
export function phaseStatus(m: MdevMigration, change: PhaseChange, now: number): Partial<MdevMigrationStatus> {
  const finishes = isFinished({ ...m, status: { ...m.status, phase: change.phase } });
  return {
    phase: change.phase,
    message: clamp(change.message, LIMITS.message),
    conditions: phaseConditions(m, change, now),
    observedGeneration: m.metadata.generation ?? 1,
    // Milliseconds, so the history limit orders records finished within one second.
    ...(finishes ? { completionTime: m.status?.completionTime ?? new Date(now).toISOString() } : {}),
  };
}

/** Finished for good: Succeeded, Failed, or Planned for a dry run (which goes no further). */
export function isFinished(m: Pick<MdevMigration, 'spec' | 'status'>): boolean {
  const phase = m.status?.phase;
  return isFinalPhase(phase) || (phase === 'Planned' && m.spec.dryRun);
}

/** What a decision contributes to status: candidates (bounded), totals, probes, timing, source. */
export function decisionStatus(d: DecisionResult): Partial<MdevMigrationStatus> {
  const candidates = firstCandidates(d.candidates, LIMITS.candidates).map((e) => ({
    node: e.node,
    verdict: e.verdict,
    ...(e.message ? { message: clamp(e.message, LIMITS.message) } : {}),
  }));
  const totals = Object.fromEntries(Object.entries(d.candidates.totals).filter(([, n]) => n > 0));
  return {
    candidates,
    verdictTotals: totals,
    probes: d.probes,
    decisionMillis: d.decisionMillis,
    ...(d.sourceNode ? { sourceNode: d.sourceNode } : {}),
  };
}

/**
 * Status device entries of the chosen node: each source device and the pool it claims there (the
 * device plugin picks the device), plus the device created for it when one was (allowCreateTarget).
 */
export function devicePairs(d: DecisionResult, created: ReadonlyMap<string, string> = new Map()): DevicePair[] {
  return d.assignment.map((p) => {
    const made = created.get(p.source);
    return { source: p.source, pool: p.target.pool, ...(made ? { created: made } : {}) };
  });
}

/** The capacity claims a migration's device entries stand for: units per pool, in pool order. */
export function claimDemands(pairs: readonly Pick<DevicePair, 'pool' | 'source'>[], typeOf: (source: string) => string | undefined): ClaimDemand[] {
  const byPool = new Map<string, ClaimDemand>();
  for (const p of pairs) {
    const demand = byPool.get(p.pool);
    if (demand) demand.units++;
    else byPool.set(p.pool, { pool: p.pool, typeId: typeOf(p.source) ?? p.pool, units: 1 });
  }
  return [...byPool.values()].sort((a, b) => (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0));
}

export function isFinalPhase(phase: Phase | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}
