// Answers this node's MdevProbes: plans the targets (probe-plan.ts), tests each through the
// compatibility backend, optionally creates the requested duplicate mdev, and writes one result
// per target with observedGeneration. A bounded number of probes run at once and pending probes
// are kept once per name (latest version wins), so a flood of probes costs bounded memory.
import { Backoff, PROMPT_WRITE_ATTEMPT_MS, PROMPT_WRITE_BACKOFF, type BackoffPolicy } from '../kube/backoff.ts';
import { realClock, sleep } from '../kube/clock.ts';
import {
  LIMITS,
  deviceObjectName,
  versionHash,
  type MdevProbe,
  type MdevProbeStatus,
  type ProbeResult,
} from '../api/v1alpha1/index.ts';
import type { CompatBackend } from '../compat/backend.ts';
import type { Logger } from '../observability/logger.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import type { CreateOutcome, CreateRequest } from './device-creator.ts';
import { planProbe, type PlannedTest, type ProbeInventory } from './probe-plan.ts';

export interface ProbeResponderOptions {
  nodeName: string;
  backend: CompatBackend;
  /** The latest discovery snapshot; undefined until the first pass finished. */
  inventory: () => ProbeInventory | undefined;
  /** Writes `status` of the named probe (merge patch on the status subresource); `signal` abandons the attempt. */
  writeStatus: (name: string, status: MdevProbeStatus, signal: AbortSignal) => Promise<void>;
  /** Creates a duplicate mdev (spec.create); absent = creation unsupported on this node. */
  createDevice?: (req: CreateRequest) => Promise<CreateOutcome>;
  /** Reruns discovery and publishing, so a created device is published before the probe answers. */
  rediscover: () => Promise<void>;
  metrics: AgentMetrics;
  log: Logger;
  /** Probes handled at once (default 4). */
  concurrency?: number;
  /**
   * How long a failed status write is retried (200 ms doubling, at most 1 s apart for the first
   * three minutes) before giving up until the probe changes; default 5 min, a probe's lifetime. An answer
   * found during an API server outage is written when it returns, not lost (issue 18).
   */
  writeGiveUpMs?: number;
  /** How long one status write may take before it is abandoned and retried (default PROMPT_WRITE_ATTEMPT_MS). */
  writeAttemptMs?: number;
  /** Retry delays of failed status writes (default PROMPT_WRITE_BACKOFF). */
  writeBackoff?: Partial<BackoffPolicy>;
  now?: () => Date;
}

export class ProbeResponder {
  readonly #opts: ProbeResponderOptions;
  /** Probes waiting to be handled, by name; a newer version replaces an older one. */
  readonly #pending = new Map<string, MdevProbe>();
  readonly #running = new Set<string>();
  readonly #idleWaiters: Array<() => void> = [];
  #stopped = false;

  constructor(opts: ProbeResponderOptions) {
    this.#opts = opts;
  }

  /** Queues a probe seen by the informer (add or update); already answered ones are skipped. */
  enqueue(probe: MdevProbe): void {
    if (this.#stopped) return;
    if (probe.spec.nodeName !== this.#opts.nodeName) return;
    if (isAnswered(probe)) {
      this.#opts.metrics.probes.inc({ result: 'skipped' });
      return;
    }
    this.#pending.set(probe.metadata.name, probe);
    this.#pump();
  }

  /** Pending plus running probes. */
  backlog(): number {
    return this.#pending.size + this.#running.size;
  }

  /** Resolves once nothing is pending or running (tests, shutdown). */
  idle(): Promise<void> {
    if (this.backlog() === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops taking probes; resolves when the running ones finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pending.clear();
    await this.idle();
  }

  /** The status answering `probe` (no write). Exported for direct tests of hostile inputs. */
  async answer(probe: MdevProbe): Promise<MdevProbeStatus> {
    const inv = this.#opts.inventory();
    if (!inv) throw new Error(`Cannot answer probe ${probe.metadata.name}: the agent has not finished its first discovery`);
    const previous = probe.status?.observedGeneration !== undefined ? (probe.status.results ?? []) : [];
    const plan = planProbe(probe.spec, inv, previous);
    const results = [...plan.results];
    for (const test of plan.tests) results.push(await this.#test(test, probe.spec.sourceVersion));
    const status: MdevProbeStatus = {
      results: results.slice(0, LIMITS.probeDevices + LIMITS.probeParents),
      observedGeneration: probe.metadata.generation ?? 1,
      completedAt: (this.#opts.now?.() ?? new Date()).toISOString(),
    };
    if (probe.spec.create) await this.#create(probe, inv, status);
    return status;
  }

  #pump(): void {
    const limit = this.#opts.concurrency ?? 4;
    while (!this.#stopped && this.#running.size < limit) {
      const next = this.#nextPending();
      if (!next) break;
      this.#running.add(next.metadata.name);
      // Runs beside the pump (up to `concurrency` at once); #handle logs and counts every failure
      // itself and never rejects, and the finally frees the slot for the next pending probe.
      void this.#handle(next).finally(() => {
        this.#running.delete(next.metadata.name);
        this.#pump();
        if (this.backlog() === 0) for (const w of this.#idleWaiters.splice(0)) w();
      });
    }
  }

  /** The oldest pending probe not already running (a running one is picked up after it ends). */
  #nextPending(): MdevProbe | undefined {
    for (const [name, probe] of this.#pending) {
      if (this.#running.has(name)) continue;
      this.#pending.delete(name);
      return probe;
    }
    return undefined;
  }

  async #handle(probe: MdevProbe): Promise<void> {
    const name = probe.metadata.name;
    let status: MdevProbeStatus;
    try {
      status = await this.answer(probe);
    } catch (err) {
      this.#opts.metrics.probes.inc({ result: 'failed' });
      this.#opts.log.error('Failed to answer probe', { probe: name, error: errorText(err) });
      return;
    }
    const giveUpAt = Date.now() + (this.#opts.writeGiveUpMs ?? 300_000);
    const backoff = new Backoff({ ...PROMPT_WRITE_BACKOFF, ...this.#opts.writeBackoff });
    for (;;) {
      try {
        await this.#opts.writeStatus(name, status, AbortSignal.timeout(this.#opts.writeAttemptMs ?? PROMPT_WRITE_ATTEMPT_MS));
        this.#opts.metrics.wrote('MdevProbe', 'patch-status');
        this.#opts.metrics.probes.inc({ result: 'answered' });
        this.#opts.log.debug('Answered probe', { probe: name, results: status.results?.length ?? 0 });
        return;
      } catch (err) {
        const delay = backoff.failed(Date.now());
        if (isGoneProbe(err) || this.#stopped || Date.now() + delay > giveUpAt) {
          this.#opts.metrics.probes.inc({ result: 'failed' });
          this.#opts.log.warn('Failed to write probe status', { probe: name, attempts: backoff.failures, error: errorText(err) });
          return;
        }
        if (backoff.failures === 1) this.#opts.log.info('Writing probe status failed; retrying until the API server answers', { probe: name, error: errorText(err) });
        await sleep(realClock, delay);
      }
    }
  }

  async #test(test: PlannedTest, source: string): Promise<ProbeResult> {
    const target = test.target === 'device' ? { device: test.device } : { parent: test.parent };
    try {
      const verdict = await this.#opts.backend.test(test.subject, source);
      const result: ProbeResult = { ...target, accepted: verdict.accepted, reason: clamp(verdict.reason) };
      if (verdict.errno !== undefined && /^E[A-Z0-9]+$/.test(verdict.errno)) result.errno = verdict.errno.slice(0, 32);
      // The verdict holds for the version tested, which may change later (an NVML device's string
      // becomes its running vGPU's once a VM starts on it): readers key cached verdicts by this.
      if (test.target === 'device' && test.version !== undefined) result.targetVersionHash = versionHash(test.version);
      return result;
    } catch (err) {
      // A backend that throws (a bug, or an exec tool gone wrong) refuses that target only.
      return { ...target, accepted: false, reason: clamp(`the ${this.#opts.backend.name} backend failed: ${errorText(err)}`) };
    }
  }

  async #create(probe: MdevProbe, inv: ProbeInventory, status: MdevProbeStatus): Promise<void> {
    const req = probe.spec.create;
    if (!req) return;
    const results = status.results ?? [];
    const index = results.findIndex((r) => r.parent === req.parent);
    const slotResult = results[index];
    if (!slotResult?.accepted) return; // planning always tests the parent; a refusal already says why
    const device = deviceObjectName(inv.nodeName, req.uuid);
    const exists = inv.devices.has(device);
    const outcome = exists ? ({ ok: true } as const) : await this.#createOn(inv, probe.spec.typeId, req);
    if (!outcome.ok) {
      // No field carries a creation failure, so the parent is reported as not usable, with why.
      const failed: ProbeResult = { parent: req.parent, accepted: false, reason: clamp(outcome.reason) };
      if (outcome.errno) failed.errno = outcome.errno;
      results[index] = failed;
      return;
    }
    if (!exists) await this.#opts.rediscover();
    const published = this.#opts.inventory()?.devices.has(device) ?? false;
    status.created = published ? { parent: req.parent, uuid: req.uuid, device } : { parent: req.parent, uuid: req.uuid };
    this.#opts.log.info('Created a duplicate mdev for a probe', { probe: probe.metadata.name, parent: req.parent, uuid: req.uuid });
  }

  async #createOn(inv: ProbeInventory, typeId: string, req: NonNullable<MdevProbe['spec']['create']>): Promise<CreateOutcome> {
    const slot = inv.capacity.find((c) => c.parent.address === req.parent && c.type.id === typeId);
    if (!slot) return { ok: false, reason: `node ${inv.nodeName} has no type ${typeId} on parent ${req.parent}` };
    if (!this.#opts.createDevice) return { ok: false, reason: `the agent of node ${inv.nodeName} cannot create devices` };
    return this.#opts.createDevice({ slot, uuid: req.uuid, creationParams: req.creationParams });
  }
}

export function isAnswered(probe: MdevProbe): boolean {
  return probe.status?.observedGeneration !== undefined && probe.status.observedGeneration === probe.metadata.generation;
}

function isGoneProbe(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 404;
}

function clamp(text: string): string {
  return text.length <= LIMITS.reason ? text : `${text.slice(0, LIMITS.reason - 3)}...`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
