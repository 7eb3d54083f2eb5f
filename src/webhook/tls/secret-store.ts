// The webhook's TLS material lives in one Secret that all replicas share. Writes are optimistic:
// CREATE-IF-ABSENT (a racing replica that loses with 409 adopts the winner's Secret) and
// replace-with-resourceVersion (a 409 means another replica rotated first: re-read and adopt).
import { MERGE_PATCH } from '../../kube/apply.ts';
import type { KubeConfig } from '../../kube/kubeconfig.ts';
import { namesOwner, withOwnerReference, type OwnerReference, type ReleaseOwner } from '../../kube/release-owner.ts';
import { kubeRequest } from '../../kube/request.ts';
import { resourcePath, type ResourceRef } from '../../kube/resource.ts';
import { loggerFor } from '../../observability/logger.ts';
import type { TlsMaterial } from './rotation.ts';

/** Data keys: the `kubernetes.io/tls` pair plus the CA bundle and the signing CA's key. */
export const TLS_SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', caBundle: 'ca.crt', caKey: 'ca.key' } as const;

export interface SecretRef {
  namespace: string;
  name: string;
}

/** A stored Secret's data (decoded to text) and the resourceVersion it was read at. */
export interface SecretRecord {
  data: Record<string, string>;
  resourceVersion: string;
}

/** The only Secret operations the store needs, so tests can substitute an in-memory fake. */
export interface TlsSecretApi {
  read(): Promise<SecretRecord | undefined>;
  /** Throws {@link SecretConflictError} when the Secret already exists. */
  create(data: Record<string, string>): Promise<SecretRecord>;
  /** Throws {@link SecretConflictError} when the Secret changed or vanished since `resourceVersion`. */
  replace(data: Record<string, string>, resourceVersion: string): Promise<SecretRecord>;
}

export class SecretConflictError extends Error {
  override name = 'SecretConflictError';
}

export interface StoredTls {
  material: TlsMaterial;
  resourceVersion: string;
}

const MAX_ATTEMPTS = 5;
const log = loggerFor('webhook-tls');

export function materialToSecretData(m: TlsMaterial): Record<string, string> {
  return {
    [TLS_SECRET_KEYS.cert]: m.certPem,
    [TLS_SECRET_KEYS.key]: m.keyPem,
    [TLS_SECRET_KEYS.caBundle]: m.caBundlePem,
    [TLS_SECRET_KEYS.caKey]: m.caKeyPem,
  };
}

/** Missing keys become empty strings; the rotation planner treats such material as unusable. */
export function materialFromSecretData(data: Record<string, string>): TlsMaterial {
  return {
    certPem: data[TLS_SECRET_KEYS.cert] ?? '',
    keyPem: data[TLS_SECRET_KEYS.key] ?? '',
    caBundlePem: data[TLS_SECRET_KEYS.caBundle] ?? '',
    caKeyPem: data[TLS_SECRET_KEYS.caKey] ?? '',
  };
}

export async function loadTls(api: TlsSecretApi): Promise<StoredTls | undefined> {
  const record = await api.read();
  return record && stored(record);
}

/**
 * Returns the stored material, creating it with `generate()` only when no Secret exists. When
 * several replicas race, exactly one create succeeds and every replica returns that Secret.
 */
export async function createTlsIfAbsent(api: TlsSecretApi, generate: () => Promise<TlsMaterial>): Promise<StoredTls> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await loadTls(api);
    if (existing) return existing;
    try {
      return stored(await api.create(materialToSecretData(await generate())));
    } catch (err) {
      if (!(err instanceof SecretConflictError)) throw err;
    }
  }
  throw new Error(`webhook TLS: the Secret kept appearing and vanishing over ${MAX_ATTEMPTS} attempts; check what else deletes it`);
}

/**
 * Writes `next` if the Secret is still at `resourceVersion`; otherwise another replica wrote
 * first and its material is adopted (`adopted: true`) for the caller to re-plan against.
 */
export async function replaceTlsOrAdopt(
  api: TlsSecretApi,
  next: TlsMaterial,
  resourceVersion: string,
): Promise<{ stored: StoredTls; adopted: boolean }> {
  try {
    return { stored: stored(await api.replace(materialToSecretData(next), resourceVersion)), adopted: false };
  } catch (err) {
    if (!(err instanceof SecretConflictError)) throw err;
  }
  // If the Secret was deleted meanwhile, recreate it from `next` rather than fail the pass.
  return { stored: await createTlsIfAbsent(api, () => Promise.resolve(next)), adopted: true };
}

function stored(record: SecretRecord): StoredTls {
  return { material: materialFromSecretData(record.data), resourceVersion: record.resourceVersion };
}

const SECRETS: ResourceRef = { group: '', version: 'v1', plural: 'secrets', namespaced: true };

/** The fields of a core/v1 Secret read here. */
interface SecretObject {
  data?: Record<string, string>;
  metadata?: { resourceVersion?: string; ownerReferences?: OwnerReference[] };
}

/**
 * {@link TlsSecretApi} over the Kubernetes API. `labels` mark a created Secret as ours. Renewals
 * are merge patches carrying the read resourceVersion (the API server rejects a stale one with
 * 409), so labels and annotations that others added survive. With `owner`, the Secret carries an
 * owner reference to it, so it is deleted with the release; a read that finds the reference
 * missing (a Secret from an older release) adds it, and an owner that cannot be read never fails
 * a read or a create.
 */
export function kubeTlsSecretApi(kc: KubeConfig, ref: SecretRef, labels: Record<string, string> = {}, owner?: ReleaseOwner): TlsSecretApi {
  const path = resourcePath(SECRETS, ref);
  const patch = async (body: Record<string, unknown>): Promise<SecretObject> => (await kubeRequest(kc, { method: 'PATCH', path, body, contentType: MERGE_PATCH })) as SecretObject;
  /** Adds the owner reference to a Secret without it; on any failure the Secret is served as read and the next pass tries again. */
  const adopt = async (secret: SecretObject): Promise<SecretObject> => {
    if (!owner || namesOwner(secret.metadata?.ownerReferences, owner)) return secret;
    const ownerRef = await owner.reference();
    if (!ownerRef) return secret;
    const metadata = { resourceVersion: secret.metadata?.resourceVersion, ownerReferences: withOwnerReference(secret.metadata?.ownerReferences, ownerRef) };
    try {
      return await patch({ metadata });
    } catch (err) {
      // 409: another replica wrote first (adopted or rotated); its Secret is read on the next pass.
      if (statusOf(err) !== 409) log.warn('Could not add the owner reference to the webhook TLS Secret; retrying on the next pass', { secret: `${ref.namespace}/${ref.name}`, error: (err as Error).message });
      return secret;
    }
  };
  return {
    async read() {
      let secret: SecretObject;
      try {
        secret = (await kubeRequest(kc, { method: 'GET', path })) as SecretObject;
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw describe(err, 'read', ref);
      }
      return record(await adopt(secret));
    },
    async create(data) {
      const ownerRef = await owner?.reference();
      const metadata = { ...ref, labels, ...(ownerRef ? { ownerReferences: [ownerRef] } : {}) };
      const body = { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata, data: encode(data) };
      try {
        return record((await kubeRequest(kc, { method: 'POST', path: resourcePath(SECRETS, { namespace: ref.namespace }), body })) as SecretObject);
      } catch (err) {
        if (statusOf(err) === 409) throw new SecretConflictError(`Secret ${ref.namespace}/${ref.name} already exists`);
        throw describe(err, 'create', ref);
      }
    },
    async replace(data, resourceVersion) {
      try {
        return record(await patch({ metadata: { resourceVersion }, data: encode(data) }));
      } catch (err) {
        const status = statusOf(err);
        if (status === 409 || status === 404) throw new SecretConflictError(`Secret ${ref.namespace}/${ref.name} changed since resourceVersion ${resourceVersion}`);
        throw describe(err, 'update', ref);
      }
    },
  };
}

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}

function record(secret: SecretObject): SecretRecord {
  const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
  return { data, resourceVersion: secret.metadata?.resourceVersion ?? '' };
}

/** HTTP status of a failed request (KubeApiError), if it is one. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function describe(err: unknown, verb: string, ref: SecretRef): Error {
  const status = statusOf(err);
  const hint = status === 403 ? '; grant the operator get/create/patch on secrets in its namespace' : '';
  return new Error(`webhook TLS: could not ${verb} Secret ${ref.namespace}/${ref.name} (HTTP ${status ?? '?'}: ${(err as Error).message})${hint}`, { cause: err });
}
