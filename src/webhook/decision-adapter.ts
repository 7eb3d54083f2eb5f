// The admission webhook's Decider on top of the controller's DecisionService: the same engine,
// caches and verdict cache as the reconciler. A decision whose chosen targets no agent confirmed is
// not a verified target: admission refuses it (the read-only tools show it as unconfirmed).
import type { DecisionResult, DecisionService } from '../controller/services.ts';
import type { AdmissionDecision, Decider, DecideRequest } from './admission-ports.ts';

/** Placement request uid for decisions not bound to an MdevMigration yet. */
const ADMISSION_REQUEST_UID = 'admission';

export function toAdmissionDecision(r: DecisionResult, probed: boolean, budgetMs: number): AdmissionDecision {
  const base = {
    sourceNode: r.sourceNode ?? '',
    explanations: r.candidates.explanations,
    totals: r.candidates.totals,
    // Without probing the engine still counts the probes it wanted; none was sent.
    probes: probed ? r.probes : 0,
    decisionMillis: r.decisionMillis,
  };
  if (!r.chosen) return { ...base, reason: r.reason };
  const chosen = { node: r.chosen.node, devices: r.chosen.pairs.map((p) => ({ source: p.source, pool: p.target.pool, typeId: p.target.typeId })) };
  if (r.needsConfirmation && probed) {
    return { ...base, reason: `the agent of ${r.chosen.node} did not confirm the version classes of its free devices within ${budgetMs} ms; retry the migration` };
  }
  return { ...base, chosen, reason: '', ...(r.needsConfirmation ? { unconfirmed: true } : {}) };
}

export function decisionServiceDecider(service: Pick<DecisionService, 'decide'>): Decider {
  return {
    async decide(req: DecideRequest): Promise<AdmissionDecision> {
      const result = await service.decide({
        vmi: req.vmi,
        // Admission never creates devices: the VMIM moves to an existing free device or nowhere.
        request: { migrationUid: ADMISSION_REQUEST_UID, allowCreateTarget: false, ...(req.targetNodes?.length ? { targetNodes: [...req.targetNodes] } : {}) },
        budgetMs: req.budgetMs,
        probe: req.probe,
      });
      return toAdmissionDecision(result, req.probe, req.budgetMs);
    },
  };
}
