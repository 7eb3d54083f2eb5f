// MdevNode: one per node, the agent's report of spare capacity per parent and type
// (docs/adr/0001-spare-capacity-as-mdevnode.md), and in status the controller's capacity claims:
// units of a device pool promised to in-flight migrations (docs/adr/0016-capacity-claims.md).
import { z } from 'zod';
import { immutable, withCel } from './cel.ts';
import { BACKENDS, LIMITS } from './constants.ts';
import { conditions, mdevType, nonNegativeInt, objectName, objectReference, parentDevice, printableString, timestamp, typeId, versionString } from './fields.ts';
import { kindObject } from './object.ts';

export const capacityEntry = z
  .object({
    parent: parentDevice,
    type: mdevType,
    availableInstances: nonNegativeInt.describe('The type\'s available_instances on this parent: mdevs that can still be created.'),
    migrationVersion: versionString
      .optional()
      .describe('Type-level migration_version on this parent: what a newly created device would report.'),
    migratable: z.boolean().describe('Whether a device created here could be live-migrated (the version was read).'),
    reason: z.string().max(LIMITS.reason).optional().describe('Why devices created here are not migratable.'),
  })
  .describe('Spare capacity of one type on one parent.');

export const mdevNodeSpec = z
  .object({
    nodeName: immutable(objectName, 'spec.nodeName').describe('The node; equals metadata.name. Immutable.'),
    backend: z.enum(BACKENDS).describe('Compatibility backend of the node\'s agent: sysfs, exec, nvml or simulated.'),
    capacity: z
      .array(capacityEntry)
      .max(LIMITS.capacityEntries)
      .optional()
      .describe('Spare capacity per parent and type; parents with no creatable instance may be left out.'),
  })
  .describe('Written by the agent of spec.nodeName only.');

export const capacityClaim = z
  .object({
    migration: objectReference.describe('The MdevMigration holding the claim.'),
    pool: printableString(256, 'a pool name').describe(
      'The device pool: the device-plugin resource KubeVirt requests (the mdev type name, spaces as "_"); the plugin hands the target pod any free device of it.',
    ),
    typeId: typeId.describe('The mdev type of the devices the migration needs from the pool.'),
    units: z.int().min(1).max(LIMITS.devicesPerVmi).describe('Free devices of the pool the migration\'s target pod will take.'),
    claimedAt: timestamp.describe('When the controller made the claim (RFC 3339).'),
    expiresAt: timestamp.describe('When the claim lapses unless its migration renews or releases it first (RFC 3339).'),
  })
  .describe('Units of one device pool on this node promised to one in-flight migration.');

export const mdevNodeStatus = z
  .object({
    observedGeneration: nonNegativeInt.optional().describe('The metadata.generation this status reflects.'),
    conditions: conditions.optional().describe('Observations about the node\'s agent, keyed by type.'),
    claims: z
      .array(capacityClaim)
      .max(LIMITS.claims)
      .optional()
      .describe(
        'Capacity claims of in-flight migrations, written by the controller with a resourceVersion precondition (of two racing migrations exactly one wins the last free unit). A pool\'s unclaimed units are its free devices minus the units claimed here.',
      ),
  })
  .describe('Observations about the node, and the capacity claims on it.');

export const mdevNode = withCel(
  kindObject('MdevNode', mdevNodeSpec, mdevNodeStatus),
  {
    rule: 'self.metadata.name == self.spec.nodeName',
    message: 'spec.nodeName must equal metadata.name: an MdevNode is named after its node',
    fieldPath: '.spec.nodeName',
  },
  (n) => n.metadata.name === n.spec.nodeName,
);

export type MdevNode = z.infer<typeof mdevNode>;
export type MdevNodeSpec = z.infer<typeof mdevNodeSpec>;
export type MdevNodeStatus = z.infer<typeof mdevNodeStatus>;
export type CapacityEntry = z.infer<typeof capacityEntry>;
export type CapacityClaim = z.infer<typeof capacityClaim>;
