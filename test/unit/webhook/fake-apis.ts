// In-memory stand-ins for the Kubernetes Secret and webhook-configuration APIs, with the same
// optimistic-concurrency rules as the API server (create conflicts, resourceVersion checks).
import type { JsonPatchOp, WebhookConfigApi, WebhookConfigRef, WebhookEntry } from '../../../src/webhook/tls/ca-bundle-publisher.ts';
import { SecretConflictError } from '../../../src/webhook/tls/secret-store.ts';
import type { SecretRecord, TlsSecretApi } from '../../../src/webhook/tls/secret-store.ts';

export class FakeSecretApi implements TlsSecretApi {
  stored: SecretRecord | undefined;
  creates = 0;
  replaces = 0;
  #rv = 0;
  #barrier: { size: number; waiting: Array<() => void> } | undefined;

  /** The next `n` reads all wait until `n` reads are pending, so racing callers see the same state. */
  holdReads(n: number): void {
    this.#barrier = { size: n, waiting: [] };
  }

  async read(): Promise<SecretRecord | undefined> {
    const barrier = this.#barrier;
    if (barrier) {
      await new Promise<void>((resolve) => {
        barrier.waiting.push(resolve);
        if (barrier.waiting.length === barrier.size) {
          this.#barrier = undefined;
          barrier.waiting.forEach((release) => release());
        }
      });
    }
    return this.stored && structuredClone(this.stored);
  }

  async create(data: Record<string, string>): Promise<SecretRecord> {
    await Promise.resolve();
    if (this.stored) throw new SecretConflictError('exists');
    this.creates++;
    return this.#write(data);
  }

  async replace(data: Record<string, string>, resourceVersion: string): Promise<SecretRecord> {
    await Promise.resolve();
    if (this.stored?.resourceVersion !== resourceVersion) throw new SecretConflictError(`stale ${resourceVersion}`);
    this.replaces++;
    return this.#write(data);
  }

  #write(data: Record<string, string>): SecretRecord {
    this.stored = { data: { ...data }, resourceVersion: String(++this.#rv) };
    return structuredClone(this.stored);
  }
}

export class FakeWebhookConfigApi implements WebhookConfigApi {
  readonly configs = new Map<string, WebhookEntry[]>();
  patches: Array<{ ref: WebhookConfigRef; ops: JsonPatchOp[] }> = [];
  /** Patches to fail before succeeding (simulates RBAC trouble or concurrent edits). */
  failPatches = 0;

  async read(ref: WebhookConfigRef): Promise<WebhookEntry[] | undefined> {
    const hooks = this.configs.get(key(ref));
    return hooks && structuredClone(hooks);
  }

  async patch(ref: WebhookConfigRef, ops: JsonPatchOp[]): Promise<void> {
    if (this.failPatches > 0) {
      this.failPatches--;
      throw new Error('the server rejected our request (forbidden)');
    }
    const hooks = this.configs.get(key(ref));
    if (!hooks) throw new Error('not found');
    for (const op of ops) applyOp(hooks, op);
    this.patches.push({ ref, ops });
  }

  caBundles(ref: WebhookConfigRef): Array<string | undefined> {
    return (this.configs.get(key(ref)) ?? []).map((h) => h.caBundle);
  }
}

export function key(ref: WebhookConfigRef): string {
  return `${ref.kind}/${ref.name}`;
}

function applyOp(hooks: WebhookEntry[], op: JsonPatchOp): void {
  const match = /^\/webhooks\/(\d+)\/(name|clientConfig\/caBundle)$/.exec(op.path);
  const hook = match && hooks[Number(match[1])];
  if (!hook) throw new Error(`fake: unsupported path ${op.path}`);
  if (op.op === 'test' && hook.name !== op.value) throw new Error(`test failed at ${op.path}`);
  if (op.op === 'add') hook.caBundle = String(op.value);
}
