// Writes to the API server by patch: server-side apply (the agent's MdevDevice publishing and the
// controller's status writes) and merge/JSON patches for narrow edits (finalizers, annotations).
// Works for any resource, namespaced or cluster-scoped, and for the `status` subresource, which
// client-node's KubernetesObjectApi cannot address.
import type { KubeConfig } from './kubeconfig.ts';
import { kubeRequest } from './request.ts';
import { apiVersionOf, resourcePath, type ResourceRef } from './resource.ts';

export const APPLY_PATCH = 'application/apply-patch+yaml';
export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';

/** The fields SSA needs; the rest of the object is the caller's intent. */
export interface ApplyObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ApplyOptions {
  /** Owner of the applied fields, e.g. `mdev-agent` or `mdev-controller`. */
  fieldManager: string;
  /** Take over fields owned by other managers instead of failing with 409. */
  force?: boolean;
  /** `status` to apply to the status subresource (the object must have one). */
  subresource?: 'status';
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface ObjectName {
  name: string;
  namespace?: string;
}

export interface PatchOptions {
  subresource?: 'status';
  fieldManager?: string;
  signal?: AbortSignal;
}

/** A JSON-patch (RFC 6902) operation. */
export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

function checkTarget(ref: ResourceRef, target: ObjectName, what: string): void {
  if (ref.namespaced && !target.namespace) {
    throw new Error(`${what} ${ref.plural}/${target.name}: the resource is namespaced, so metadata.namespace is required`);
  }
}

/**
 * Server-side apply of `obj` (its apiVersion must match `ref`). Returns the object as stored.
 * With `subresource: 'status'` only `status` is applied; spec fields in `obj` are ignored by the server.
 */
export async function serverSideApply(kc: KubeConfig, ref: ResourceRef, obj: ApplyObject, opts: ApplyOptions): Promise<unknown> {
  const target = { name: obj.metadata.name, namespace: obj.metadata.namespace };
  checkTarget(ref, target, 'Apply of');
  if (obj.apiVersion !== apiVersionOf(ref)) {
    throw new Error(`Apply of ${ref.plural}/${obj.metadata.name}: apiVersion ${obj.apiVersion} does not match ${apiVersionOf(ref)}`);
  }
  return kubeRequest(kc, {
    method: 'PATCH',
    path: resourcePath(ref, { ...target, subresource: opts.subresource }),
    query: { fieldManager: opts.fieldManager, force: opts.force ? true : undefined, dryRun: opts.dryRun ? 'All' : undefined },
    body: obj,
    contentType: APPLY_PATCH,
    signal: opts.signal,
  });
}

/** RFC 7386 merge patch (null deletes a key). Works on custom resources, unlike strategic merge. */
export async function mergePatch(kc: KubeConfig, ref: ResourceRef, target: ObjectName, patch: Record<string, unknown>, opts: PatchOptions = {}): Promise<unknown> {
  checkTarget(ref, target, 'Merge patch of');
  return kubeRequest(kc, {
    method: 'PATCH',
    path: resourcePath(ref, { ...target, subresource: opts.subresource }),
    query: { fieldManager: opts.fieldManager },
    body: patch,
    contentType: MERGE_PATCH,
    signal: opts.signal,
  });
}

/** RFC 6902 JSON patch; pair a `test` op with the change for compare-and-swap edits. */
export async function jsonPatch(kc: KubeConfig, ref: ResourceRef, target: ObjectName, ops: JsonPatchOp[], opts: PatchOptions = {}): Promise<unknown> {
  checkTarget(ref, target, 'JSON patch of');
  return kubeRequest(kc, {
    method: 'PATCH',
    path: resourcePath(ref, { ...target, subresource: opts.subresource }),
    query: { fieldManager: opts.fieldManager },
    body: ops,
    contentType: JSON_PATCH,
    signal: opts.signal,
  });
}

/** Escapes a key for a JSON-pointer path segment (`a/b` → `a~1b`), e.g. for label or annotation keys. */
export function jsonPointerSegment(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
