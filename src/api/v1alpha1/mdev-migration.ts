// MdevMigration: a namespaced request to move one VMI to a verified-compatible node (DESIGN §3).
import { z } from 'zod';
import { DEADLINE_SECONDS, LIMITS, PHASES, TTL_SECONDS, VERDICTS } from './constants.ts';
import { conditions, dnsLabel, nonNegativeInt, objectName, printableString, timestamp } from './fields.ts';
import { kindObject } from './object.ts';

export const mdevMigrationSpec = z
  .object({
    vmiName: dnsLabel.describe('Name of the VirtualMachineInstance to move, in the namespace of this object.'),
    targetNodes: z
      .array(objectName.describe('A node the VMI may move to.'))
      .max(LIMITS.targetNodes)
      .optional()
      .describe('Allow-list of target nodes; empty or absent means any node.'),
    allowCreateTarget: z
      .boolean()
      .default(false)
      .describe('May an agent create a duplicate mdev (same parent id, type and creation parameters) as the target?'),
    dryRun: z.boolean().default(false).describe('Decide and explain only: the phase ends at Planned and nothing is reserved.'),
    deadlineSeconds: z
      .int()
      .min(DEADLINE_SECONDS.min)
      .max(DEADLINE_SECONDS.max)
      .default(DEADLINE_SECONDS.default)
      .describe(`Seconds from creation after which the migration fails (${DEADLINE_SECONDS.min}-${DEADLINE_SECONDS.max}).`),
    ttlSecondsAfterFinished: z
      .int()
      .min(TTL_SECONDS.min)
      .max(TTL_SECONDS.max)
      .optional()
      .describe(
        `Seconds after status.completionTime (Succeeded, Failed, or Planned for a dry run) at which the controller deletes this object (${TTL_SECONDS.min}-${TTL_SECONDS.max}); absent: kept, subject only to the controller's per-VMI history limit.`,
      ),
  })
  .describe('What to migrate and under which constraints.');

export const devicePair = z
  .object({
    source: objectName.describe('MdevDevice the VMI uses on the source node.'),
    pool: printableString(256, 'a pool name').describe(
      'The device pool (device-plugin resource) the target pod requests for it on the target node; KubeVirt\'s device plugin picks which free device of it the VMI gets.',
    ),
    created: objectName.optional().describe('MdevDevice the target\'s agent created for it (allowCreateTarget).'),
    verified: z
      .array(objectName.describe('An MdevDevice name.'))
      .max(LIMITS.verifiedTargets)
      .optional()
      .describe(
        'Free MdevDevices of the pool on the target whose version class accepted the source when the target was claimed (at most 16): the device plugin hands out one of them unless the pool changed meanwhile.',
      ),
    target: objectName.optional().describe('MdevDevice the VMI actually got on the target node, recorded after the migration.'),
    targetAccepted: z
      .boolean()
      .optional()
      .describe('Whether the version class of the device the VMI got accepted the source version (see the TargetDeviceVerified condition).'),
  })
  .describe('A source device, the pool it moves into, and the device the VMI got there.');

export const candidate = z
  .object({
    node: objectName.describe('The candidate node.'),
    verdict: z
      .enum(VERDICTS)
      .describe('Compatible, Incompatible, NoCapacity, TypeMismatch, AgentUnavailable or Excluded.'),
    message: z.string().max(LIMITS.message).optional().describe('Why the node got this verdict, e.g. the driver\'s errno.'),
  })
  .describe('One node considered for the migration and why it was or was not chosen.');

export const failedTarget = z
  .object({
    node: objectName.describe('The node that was tried.'),
    migrationName: objectName.optional().describe('The VirtualMachineInstanceMigration of that attempt, if one was created.'),
    reason: z.string().max(LIMITS.message).describe('Why it failed: KubeVirt\'s failure reason, its conditions or Events, or the agent\'s refusal.'),
  })
  .describe('A target tried and given up; later plans exclude the node.');

const verdictCount = (verdict: string) => nonNegativeInt.optional().describe(`Number of candidate nodes with verdict ${verdict}.`);

export const verdictTotals = z
  .object({
    Compatible: verdictCount('Compatible'),
    Incompatible: verdictCount('Incompatible'),
    NoCapacity: verdictCount('NoCapacity'),
    TypeMismatch: verdictCount('TypeMismatch'),
    AgentUnavailable: verdictCount('AgentUnavailable'),
    Excluded: verdictCount('Excluded'),
  } satisfies Record<(typeof VERDICTS)[number], z.ZodType>)
  .describe('Candidate counts per verdict over all nodes considered, including those beyond the candidates list.');

export const mdevMigrationStatus = z
  .object({
    phase: z.enum(PHASES).optional().describe('Pending, Probing, Planned, Migrating, Succeeded or Failed.'),
    sourceNode: objectName.optional().describe('Node the VMI runs on.'),
    targetNode: objectName.optional().describe('Node chosen as the target.'),
    devices: z
      .array(devicePair)
      .max(LIMITS.devicesPerVmi)
      .optional()
      .describe('Source devices of the VMI, the pool each claims on the target node, and (after the migration) the device the VMI got.'),
    candidates: z
      .array(candidate)
      .max(LIMITS.candidates)
      .optional()
      .describe(`Nodes considered and their verdicts, at most ${LIMITS.candidates}; verdictTotals counts all of them.`),
    verdictTotals: verdictTotals.optional(),
    probes: nonNegativeInt.optional().describe('Number of probe requests the decision cost.'),
    decisionMillis: nonNegativeInt.optional().describe('Milliseconds the placement decision took.'),
    migrationName: objectName.optional().describe('Name of the VirtualMachineInstanceMigration created for this request.'),
    attempts: nonNegativeInt.optional().describe('Number of target nodes tried so far.'),
    failedTargets: z
      .array(failedTarget)
      .max(LIMITS.failedTargets)
      .optional()
      .describe(
        'Targets tried and given up, with why; counted here (not from VMIMs, which KubeVirt garbage-collects beyond 5 per VMI) and excluded from later plans.',
      ),
    observedGeneration: nonNegativeInt.optional().describe('The metadata.generation this status reflects.'),
    completionTime: timestamp
      .optional()
      .describe('When the migration reached its final phase (Succeeded, Failed, or Planned for a dry run); ttlSecondsAfterFinished counts from here.'),
    conditions: conditions.optional().describe('Observations about the migration, keyed by type.'),
    message: z.string().max(LIMITS.message).optional().describe('Human-readable summary of the current phase.'),
  })
  .describe('Progress and the reasons behind the placement decision; written by the controller.');

export const mdevMigration = kindObject('MdevMigration', mdevMigrationSpec, mdevMigrationStatus);

export type MdevMigration = z.infer<typeof mdevMigration>;
export type MdevMigrationSpec = z.infer<typeof mdevMigrationSpec>;
export type MdevMigrationStatus = z.infer<typeof mdevMigrationStatus>;
export type Candidate = z.infer<typeof candidate>;
export type DevicePair = z.infer<typeof devicePair>;
export type VerdictTotals = z.infer<typeof verdictTotals>;
export type FailedTarget = z.infer<typeof failedTarget>;
