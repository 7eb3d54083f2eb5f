// Keeps the webhook's TLS material current on every replica: one pass ensures the Secret exists,
// publishes its CA bundle to the webhook configurations, renews what is due (optimistically, so
// replicas never fight) and hands the result to the server; a timer repeats the pass, which is
// also how replicas that did not rotate pick up the new certificate.
import { loggerFor } from '../../observability/logger.ts';
import type { ServingIdentity } from './certs.ts';
import { publishCaBundle } from './ca-bundle-publisher.ts';
import type { WebhookConfigApi, WebhookConfigRef } from './ca-bundle-publisher.ts';
import { DEFAULT_TLS_POLICY, applyRenewal, freshMaterial, planRenewal } from './rotation.ts';
import type { ApplyContext, TlsMaterial, TlsPolicy } from './rotation.ts';
import { createTlsIfAbsent, replaceTlsOrAdopt } from './secret-store.ts';
import type { StoredTls, TlsSecretApi } from './secret-store.ts';

const log = loggerFor('webhook-tls');

export interface WebhookTlsOptions {
  secrets: TlsSecretApi;
  webhookConfigs: WebhookConfigApi;
  webhookRefs: readonly WebhookConfigRef[];
  identity: ServingIdentity;
  policy?: TlsPolicy;
  caCommonName?: string;
  clock?: () => Date;
}

export interface TlsPass {
  material: TlsMaterial;
  resourceVersion: string;
  /** Why material was renewed during this pass (empty when nothing was due). */
  renewed: string[];
  /** Set when the caBundle could not be published; the material is still usable for serving. */
  publishError?: Error;
}

const MAX_ROUNDS = 4;

/** One full pass. Safe to run concurrently on many replicas. */
export async function reconcileWebhookTls(opts: WebhookTlsOptions): Promise<TlsPass> {
  const now = (opts.clock ?? (() => new Date()))();
  const ctx: ApplyContext = { now, policy: opts.policy ?? DEFAULT_TLS_POLICY, identity: opts.identity, caCommonName: opts.caCommonName ?? 'mdev-operator-webhook-ca' };
  let current: StoredTls = await createTlsIfAbsent(opts.secrets, () => freshMaterial(ctx));
  const renewed: string[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const publishError = await tryPublish(opts, current.material.caBundlePem);
    const plan = planRenewal(current.material, { ...ctx, caBundlePublished: !publishError });
    if (!plan.regenerate && !plan.rotateCa && !plan.reissueServing) {
      return { ...current, renewed, ...(publishError ? { publishError } : {}) };
    }
    const next = await applyRenewal(current.material, plan, ctx);
    const result = await replaceTlsOrAdopt(opts.secrets, next, current.resourceVersion);
    if (result.adopted) log.info('Adopted webhook TLS material written by another replica', { reasons: plan.reasons });
    else {
      renewed.push(...plan.reasons);
      log.info('Renewed webhook TLS material', { reasons: plan.reasons });
    }
    current = result.stored;
  }
  throw new Error(`webhook TLS: material still needed renewal after ${MAX_ROUNDS} rounds; check for another writer of the Secret or a policy whose renew-before exceeds the validity`);
}

async function tryPublish(opts: WebhookTlsOptions, caBundlePem: string): Promise<Error | undefined> {
  try {
    const result = await publishCaBundle(opts.webhookConfigs, opts.webhookRefs, caBundlePem);
    for (const ref of result.patched) log.info('Patched webhook caBundle', { kind: ref.kind, name: ref.name });
    for (const ref of result.missing) log.warn('Skipped missing webhook configuration', { kind: ref.kind, name: ref.name });
    return undefined;
  } catch (err) {
    log.error('Failed to publish webhook caBundle', { error: (err as Error).message });
    return err as Error;
  }
}

/** How often each replica re-reads the Secret and renews what is due. */
export const DEFAULT_TLS_CHECK_INTERVAL_MS = 5 * 60_000;

export interface TlsKeeperHandle {
  /** Runs a pass now (joining one already in flight) and delivers its material. */
  tick(): Promise<TlsPass>;
  stop(): void;
}

export interface TlsKeeperLoop {
  intervalMs: number;
  /** Receives the material after every successful pass; the server reloads when it changed. */
  onMaterial: (material: TlsMaterial) => void;
}

/** Starts periodic passes (first one immediately). Errors are logged and retried next interval. */
export function startTlsKeeper(opts: WebhookTlsOptions, loop: TlsKeeperLoop): TlsKeeperHandle {
  let inFlight: Promise<TlsPass> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = (): Promise<TlsPass> => {
    inFlight ??= reconcileWebhookTls(opts)
      .then((pass) => (loop.onMaterial(pass.material), pass))
      .finally(() => (inFlight = undefined));
    return inFlight;
  };
  const schedule = (): void => {
    if (stopped) return;
    // Jitter so that replicas started together do not poll in lockstep.
    timer = setTimeout(() => void tick().catch(logFailure).finally(schedule), loop.intervalMs * (0.9 + Math.random() * 0.2));
    timer.unref();
  };
  void tick().catch(logFailure).finally(schedule);
  return {
    tick,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function logFailure(err: unknown): void {
  log.error('Failed to reconcile webhook TLS material', { error: (err as Error).message });
}
