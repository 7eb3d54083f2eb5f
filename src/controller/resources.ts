// The API resources the controller reads and writes, in one place so informers, patches and RBAC
// talk about the same URLs.
import { GROUP, PLURALS, VERSION } from '../api/v1alpha1/index.ts';
import type { ResourceRef } from '../kube/resource.ts';

export const MDEV_DEVICES: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevDevice, namespaced: false };
export const MDEV_NODES: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevNode, namespaced: false };
export const MDEV_PROBES: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevProbe, namespaced: false };
export const MDEV_MIGRATIONS: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevMigration, namespaced: true };
export const NODES: ResourceRef = { group: '', version: 'v1', plural: 'nodes', namespaced: false };
export const EVENTS: ResourceRef = { group: '', version: 'v1', plural: 'events', namespaced: true };
export { LEASES } from '../kube/lease-store.ts';
export { VMI_RESOURCE as VMIS, VMIM_RESOURCE as VMIMS } from '../kubevirt/types.ts';

/** The controller replicas' leader-election Lease, in the operator namespace next to the agents' Leases. */
export const LEADER_LEASE_NAME = 'mdev-operator-controller';
