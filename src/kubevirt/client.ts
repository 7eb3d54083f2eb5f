// Reads and writes of KubeVirt objects over the API server, validated with the schemas in
// types.ts. Malformed objects in lists are logged and skipped; a malformed single object reads as
// absent (undefined), like a NotFound, so callers handle both the same way.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { mergePatch } from '../kube/apply.ts';
import { isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath, type ResourceRef } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import { parseVmi, parseVmiList, parseVmim, parseVmimList, VMI_RESOURCE, VMIM_RESOURCE, type Vmi, type Vmim } from './types.ts';

export interface ListOptions {
  /** Absent = all namespaces. */
  namespace?: string;
  labelSelector?: string;
  signal?: AbortSignal;
}

async function getObject(kc: KubeConfig, ref: ResourceRef, namespace: string, name: string, signal?: AbortSignal): Promise<unknown> {
  try {
    return await kubeRequest(kc, { method: 'GET', path: resourcePath(ref, { namespace, name }), signal });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function listItems(kc: KubeConfig, ref: ResourceRef, opts: ListOptions): Promise<unknown[]> {
  const res = (await kubeRequest(kc, {
    method: 'GET',
    path: resourcePath(ref, { namespace: opts.namespace }),
    query: { labelSelector: opts.labelSelector },
    signal: opts.signal,
  })) as { kind?: string; items?: unknown[] } | undefined;
  // Built-in list items omit apiVersion and kind; fill them in so item schemas can check them.
  const apiVersion = ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
  const kind = res?.kind?.replace(/List$/, '');
  return (res?.items ?? []).map((item) => ({ apiVersion, ...(kind ? { kind } : {}), ...(item as object) }));
}

export async function getVmi(kc: KubeConfig, namespace: string, name: string, log?: Logger): Promise<Vmi | undefined> {
  const obj = await getObject(kc, VMI_RESOURCE, namespace, name);
  return obj === undefined ? undefined : parseVmi(obj, log);
}

export async function getVmim(kc: KubeConfig, namespace: string, name: string, log?: Logger): Promise<Vmim | undefined> {
  const obj = await getObject(kc, VMIM_RESOURCE, namespace, name);
  return obj === undefined ? undefined : parseVmim(obj, log);
}

export async function listVmis(kc: KubeConfig, opts: ListOptions = {}, log?: Logger): Promise<Vmi[]> {
  return parseVmiList(await listItems(kc, VMI_RESOURCE, opts), log);
}

export async function listVmims(kc: KubeConfig, opts: ListOptions = {}, log?: Logger): Promise<Vmim[]> {
  return parseVmimList(await listItems(kc, VMIM_RESOURCE, opts), log);
}

export interface NewVmim {
  namespace: string;
  name: string;
  vmiName: string;
  addedNodeSelector?: Record<string, string>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
}

export function buildVmim(m: NewVmim): Record<string, unknown> {
  return {
    apiVersion: `${VMIM_RESOURCE.group}/${VMIM_RESOURCE.version}`,
    kind: 'VirtualMachineInstanceMigration',
    metadata: {
      name: m.name,
      namespace: m.namespace,
      ...(m.labels ? { labels: m.labels } : {}),
      ...(m.annotations ? { annotations: m.annotations } : {}),
      ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
    },
    spec: { vmiName: m.vmiName, ...(m.addedNodeSelector ? { addedNodeSelector: m.addedNodeSelector } : {}) },
  };
}

/** Creates a VMIM; throws the API error (e.g. AlreadyExists) for the caller to classify. */
export async function createVmim(kc: KubeConfig, m: NewVmim): Promise<Vmim> {
  const obj = await kubeRequest(kc, { method: 'POST', path: resourcePath(VMIM_RESOURCE, { namespace: m.namespace }), body: buildVmim(m) });
  const vmim = parseVmim(obj);
  if (!vmim) throw new Error(`The API server returned a malformed VirtualMachineInstanceMigration ${m.namespace}/${m.name}: check the KubeVirt CRDs`);
  return vmim;
}

export interface StatusPatchOptions {
  /** Fails with 409 Conflict unless the object still has this resourceVersion (compare-and-swap). */
  resourceVersion?: string;
  fieldManager?: string;
}

function withPrecondition(patch: Record<string, unknown>, rv: string | undefined): Record<string, unknown> {
  return rv === undefined ? patch : { ...patch, metadata: { resourceVersion: rv } };
}

/** Merge-patches the VMIM's status subresource; returns the stored object. */
export async function patchVmimStatus(kc: KubeConfig, vmim: { namespace: string; name: string }, status: Record<string, unknown>, opts: StatusPatchOptions = {}): Promise<Vmim | undefined> {
  const obj = await mergePatch(kc, VMIM_RESOURCE, vmim, withPrecondition({ status }, opts.resourceVersion), { subresource: 'status', fieldManager: opts.fieldManager });
  return parseVmim(obj);
}

/**
 * Merge-patches the VMI's status. KubeVirt's VirtualMachineInstance CRD has no status subresource
 * (virt-handler and virt-controller write status with the object), so this patches the object.
 */
export async function patchVmiStatus(kc: KubeConfig, vmi: { namespace: string; name: string }, status: Record<string, unknown>, opts: StatusPatchOptions = {}): Promise<Vmi | undefined> {
  const obj = await mergePatch(kc, VMI_RESOURCE, vmi, withPrecondition({ status }, opts.resourceVersion), { fieldManager: opts.fieldManager });
  return parseVmi(obj);
}

/** Merge-patches labels of a VMI (metadata lives on the main resource, not on status). */
export async function patchVmiLabels(kc: KubeConfig, vmi: { namespace: string; name: string }, labels: Record<string, string | null>, fieldManager?: string): Promise<void> {
  await mergePatch(kc, VMI_RESOURCE, vmi, { metadata: { labels } }, { fieldManager });
}
