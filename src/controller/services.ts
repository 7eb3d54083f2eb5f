// What the controller lends the admission webhook, and the only module of src/controller the
// webhook may import (docs/architecture.md, "Import direction"; ADR 0006): the decision service
// and the cluster view it reads, probes, capacity claims, the caches' shape, the resources they cover,
// and the port through which the controller manager starts the webhook. The reconciler, the VMIM
// driver, status, events and metrics stay private to the controller.
export type { ControllerCaches } from './caches.ts';
export type { CachedDevice, CachedMdevNode } from './cached-objects.ts';
export { DecisionService, type DecisionResult, type ProbeSender } from './decision.ts';
export type { WebhookStarter } from './manager.ts';
export { ProbeClient } from './probe-client.ts';
export { CapacityClaims } from './claims.ts';
export { claimDemands } from './migration-status.ts';
export { LEASES, MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, MDEV_PROBES, NODES } from './resources.ts';
export { parseAgentLease, parseNode, type AgentLease, type ClusterView, type NodeObject } from './snapshot.ts';
