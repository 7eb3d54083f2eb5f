// The whole of §4 steps 1–4 as one call, with probing injected: resolve, filter, plan, probe the
// unknown classes, decide, then confirm the chosen targets until a decision rests only on answers
// about the exact targets it uses. The prober is the only I/O; the reconciler passes one that
// creates MdevProbes and waits with a deadline, tests and benchmarks pass a simulated driver.

import { applyProbeAnswers, classesOf, planProbes } from './classes.ts';
import { filterCandidates } from './candidates.ts';
import { decide, redecide } from './decide.ts';
import type { Fleet } from './fleet.ts';
import { resolveSource } from './source.ts';
import type { CandidateFilter, Decision, Device, ProbeAnswer, ProbePlan, ProbeRequest, Request, Source, SourceVm, VerdictMap } from './types.ts';
import type { VerdictCache } from './verdict-cache.ts';

/** Sends probes and returns whatever answers arrived (missing answers leave a class unknown). */
export type Prober = (probes: ProbeRequest[]) => Promise<ProbeAnswer[]>;

export interface PlaceInput {
  vm: SourceVm;
  /** The source's devices are found in it by consumer uid (Fleet.devicesByConsumer). */
  fleet: Fleet;
  request: Request;
}

export type PlaceOutcome =
  | { ok: false; reason: string }
  | { ok: true; source: Source; filter: CandidateFilter; plan: ProbePlan; verdicts: VerdictMap; decision: Decision; probes: number; confirmationRounds: number };

/**
 * Each confirmation round either confirms the chosen targets (done) or turns at least one class to
 * rejected, so rounds are bounded by the number of classes; the cap guards against a prober that
 * keeps answering nothing.
 */
const MAX_CONFIRMATION_ROUNDS = 8;
const NONE: readonly Device[] = [];

export async function place(input: PlaceInput, cache: VerdictCache, prober: Prober): Promise<PlaceOutcome> {
  const resolved = resolveSource(input.vm, input.fleet.devicesByConsumer.get(input.vm.uid) ?? NONE);
  if (!resolved.ok) return resolved;
  const { source } = resolved;
  const filter = filterCandidates(source, input.fleet, input.request);
  const plan = planProbes(source, classesOf(filter), cache);
  let probes = plan.probes.length;
  let verdicts = plan.probes.length > 0 ? applyProbeAnswers(plan.verdicts, await prober(plan.probes), cache) : plan.verdicts;
  let decision = decide(source, filter, verdicts);
  let rounds = 0;
  while (decision.needsConfirmation && rounds < MAX_CONFIRMATION_ROUNDS) {
    rounds++;
    probes += decision.confirmationProbes.length;
    const answers = await prober(decision.confirmationProbes);
    if (answers.length === 0) break;
    const before = verdicts;
    verdicts = applyProbeAnswers(verdicts, answers, cache);
    decision = redecide(source, filter, decision, before, verdicts);
  }
  return { ok: true, source, filter, plan, verdicts, decision, probes, confirmationRounds: rounds };
}
