// Step: decide a target node. Refuses at once what KubeVirt would refuse (a VMI whose LiveMigratable
// condition is False), excludes the targets this migration already gave up (status.failedTargets,
// never counted from VMIMs: KubeVirt keeps only 5 finished ones per VMI), and records Probing only
// while the decision actually waits for an agent.
import type { MdevMigration, MdevMigrationStatus } from '../../api/v1alpha1/index.ts';
import type { ReconcileResult } from '../../kube/workqueue.ts';
import { notLiveMigratable } from '../../kubevirt/live-migratable.ts';
import type { Vmi } from '../../kubevirt/types.ts';
import type { DecisionResult } from '../decision.ts';
import { controllerMetrics } from '../metrics.ts';
import { decisionStatus, devicePairs, phaseStatus } from '../migration-status.ts';
import { toRequest } from '../snapshot.ts';
import { claimAndStart } from './claim.ts';
import type { StepContext } from './context.ts';
import { fail, NO_TARGET } from './outcome.ts';

/** Waiting for an agent that timed out: try again after this long, while this much deadline remains. */
const AGENT_RETRY_DELAY_MS = 3_000;
const AGENT_RETRY_MARGIN_MS = 30_000;
/** Waiting for other migrations' claims to go (they end within their own deadlines). */
const CLAIM_RETRY_DELAY_MS = 2_000;

export async function plan(ctx: StepContext, m: MdevMigration, vmi: Vmi): Promise<ReconcileResult | void> {
  // A claim this migration just lost: decide only once the cache shows the write that took it.
  if (!ctx.cacheSawLoss(m)) return { requeue: true };
  const refused = notLiveMigratable(vmi);
  if (refused) return fail(ctx, m, 'NotLiveMigratable', refused);
  // Probing is recorded when the decision has to wait for an agent, overlapping that wait (the
  // decision only reads). A decision whose verdicts are all known (a warm cache) goes straight
  // to its result: one status write instead of two, and nobody ever sees a Probing phase
  // during which no probe was outstanding.
  const deciding = `Deciding a target node for VMI ${m.metadata.namespace}/${m.spec.vmiName}`;
  const wasProbing = m.status?.phase === 'Probing';
  let probing: Promise<MdevMigration> | undefined;
  const onProbing = (): void => {
    if (wasProbing || probing) return;
    probing = ctx.status.patch(m, { ...phaseStatus(m, { phase: 'Probing', reason: 'Probing', message: deciding }, ctx.now()), ...NO_TARGET });
    probing.catch(() => undefined); // awaited below; this only keeps an early rejection from being unhandled
  };
  const exclude = new Map((m.status?.failedTargets ?? []).map((f): [string, string] => [f.node, f.migrationName ? `attempt ${f.migrationName} to this node failed: ${f.reason}` : f.reason]));
  const decision = await ctx.o.decisions.decide({ vmi, request: toRequest(m), probe: true, exclude, budgetMs: ctx.o.decisionBudgetMs, onProbing });
  if (probing) {
    m = await probing;
    ctx.event(m, 'Normal', 'Probing', deciding);
  }
  ctx.o.guard?.();
  if (decision.behind) return ctx.wait(m, decision.reason);
  if (!decision.source) return fail(ctx, m, 'SourceNotMigratable', decision.reason);
  if (!decision.chosen) {
    // An agent that did not answer in time (an API server restart, a slow node) may answer on the
    // next try: wait while the deadline allows instead of failing on a transient silence.
    const silent = decision.candidates.explanations.filter((e) => e.verdict === 'AgentUnavailable' && e.message.startsWith('probe timed out'));
    if (silent.length > 0 && ctx.now() + AGENT_RETRY_MARGIN_MS < ctx.deadlineAt(m)) {
      const message = `${decision.reason}; asking ${silent.map((e) => e.node).join(', ')} again`;
      await ctx.status.patch(m, { ...decisionStatus(decision), message });
      // A late answer from that agent (or a recovery) wakes it sooner.
      return ctx.wait(m, message, AGENT_RETRY_DELAY_MS);
    }
    // An agent whose lease looks expired in a cache that was not current long enough (an API
    // server outage just ended) may yet renew: not a verdict to fail on. The deadline bounds it.
    const unknown = waitableUnknownAgents(m, decision);
    if (unknown.length > 0) {
      const message = `${decision.reason}; waiting for the agents of ${unknown.join(', ')}, whose leases look expired but cannot be judged yet (Lease updates seen for less than one lease duration), to renew them`;
      if (m.status?.message !== message) await ctx.status.patch(m, { ...decisionStatus(decision), message });
      return ctx.wait(m, message);
    }
    // A node full only of other migrations' claims is judged once they end (a drain moves many
    // VMs at once; failing now would fail a migration that fits once a sibling settles).
    const claimed = decision.candidates.explanations.filter((e) => e.claimBound);
    if (claimed.length > 0 && ctx.now() + CLAIM_RETRY_DELAY_MS < ctx.deadlineAt(m)) {
      const message = `${decision.reason}; waiting for other migrations' claims on ${claimed.map((e) => e.node).join(', ')} to be released`;
      if (m.status?.message !== message) await ctx.status.patch(m, { ...decisionStatus(decision), message });
      return ctx.wait(m, message, CLAIM_RETRY_DELAY_MS);
    }
    return fail(ctx, m, 'NoCompatibleNode', decision.reason, decisionStatus(decision));
  }
  if (decision.needsConfirmation) {
    // The chosen node's classes were never tested there (the confirmation went unanswered): decide again.
    await ctx.status.patch(m, { ...decisionStatus(decision), message: `Target ${decision.chosen.node} not confirmed by its agent yet; deciding again` });
    return { requeueAfter: 1000 };
  }
  if (m.spec.dryRun) return planned(ctx, m, decision);
  return claimAndStart(ctx, m, decision);
}

async function planned(ctx: StepContext, m: MdevMigration, d: DecisionResult): Promise<void> {
  const chosen = d.chosen?.node as string;
  const creates = d.assignment.filter((p) => p.target.kind === 'slot').length;
  const message = `Dry run: ${chosen} would take VMI ${m.metadata.namespace}/${m.spec.vmiName}` + (creates > 0 ? ` (${creates} device(s) to create)` : '');
  const status: Partial<MdevMigrationStatus> = {
    ...phaseStatus(m, { phase: 'Planned', reason: 'DryRun', message }, ctx.now()),
    ...decisionStatus(d),
    targetNode: chosen,
    devices: devicePairs(d),
  };
  await ctx.status.patch(m, status);
  controllerMetrics.migrations.inc({ result: 'planned' });
  ctx.event(m, 'Normal', 'Planned', message);
}

/** Unknown-state agents that could take this migration (inside its targetNodes, if any). */
function waitableUnknownAgents(m: MdevMigration, decision: DecisionResult): string[] {
  const allowed = m.spec.targetNodes && m.spec.targetNodes.length > 0 ? new Set(m.spec.targetNodes) : undefined;
  return (decision.unknownAgents ?? []).filter((n) => !allowed || allowed.has(n));
}
