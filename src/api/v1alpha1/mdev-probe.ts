// MdevProbe: "agent on node N, do you accept this source string?" (DESIGN §3). Created by the
// controller, answered in status by the agent of spec.nodeName.
import { z } from 'zod';
import { immutable, withCel } from './cel.ts';
import { LIMITS } from './constants.ts';
import {
  creationParams,
  nonNegativeInt,
  objectName,
  parentAddress,
  timestamp,
  typeId,
  uuid,
  versionString,
} from './fields.ts';
import { kindObject } from './object.ts';

export const probeCreate = z
  .object({
    parent: parentAddress.describe('Parent to create the duplicate on.'),
    uuid: uuid.describe('UUID of the mdev to create, canonical lowercase.'),
    creationParams: creationParams.optional().describe('Creation parameters of the source device, in order.'),
  })
  .describe('After the source string is accepted, create a duplicate mdev of spec.typeId with this UUID.');

export const mdevProbeSpec = z
  .object({
    nodeName: immutable(objectName, 'spec.nodeName').describe('Node whose agent answers the probe. Immutable.'),
    typeId: immutable(typeId, 'spec.typeId').describe('mdev type of the source device; only devices of this type are tested. Immutable.'),
    sourceVersion: immutable(versionString, 'spec.sourceVersion').describe(
      'The source device\'s migration version string, tested against each target. Immutable.',
    ),
    devices: z
      .array(objectName.describe('Name of an MdevDevice on spec.nodeName.'))
      .max(LIMITS.probeDevices)
      .optional()
      .describe('MdevDevice names to test; empty or absent means every device of typeId on the node.'),
    parents: z
      .array(parentAddress.describe('A parent address on spec.nodeName: PCI address or class-device name.'))
      .max(LIMITS.probeParents)
      .optional()
      .describe('Parents whose type-level migration_version to test, for spare capacity (allowCreateTarget).'),
    create: probeCreate.optional(),
  })
  .describe('What to test on which node; written by the controller.');

const resultFields = z.object({
  device: objectName.optional().describe('The MdevDevice tested; exactly one of device and parent is set.'),
  parent: parentAddress.optional().describe('The parent whose type-level attribute was tested.'),
  accepted: z.boolean().describe('Whether the target accepted the source string.'),
  errno: z
    .string()
    .max(32)
    .regex(/^E[A-Z0-9]+$/)
    .optional()
    .describe('Symbolic errno of the rejected write (EINVAL), as the kernel or vendor tool reported it.'),
  reason: z.string().max(LIMITS.reason).describe('Why the target accepted or refused, for explain output.'),
  targetVersionHash: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .optional()
    .describe(
      'Digest of the tested device\'s migration version at the time of the test (its mdev-operator.io/version-hash label then). ' +
        'The verdict holds for that version even after the device\'s version changes, e.g. when a VM starts on an nvml device.',
    ),
});

export const probeResult = withCel(
  resultFields,
  {
    rule: 'has(self.device) != has(self.parent)',
    message: 'exactly one of device and parent must be set in a probe result',
    fieldPath: '.device',
  },
  (r) => (r.device === undefined) !== (r.parent === undefined),
).describe('The verdict for one device or parent.');

export const createdDevice = z
  .object({
    parent: parentAddress.describe('Parent the duplicate was created on.'),
    uuid: uuid.describe('UUID of the created mdev.'),
    device: objectName.optional().describe('Name of the MdevDevice that stands for the new device, once published.'),
  })
  .describe('The duplicate mdev the agent created for spec.create.');

export const mdevProbeStatus = z
  .object({
    results: z
      .array(probeResult)
      .max(LIMITS.probeDevices + LIMITS.probeParents)
      .optional()
      .describe('One result per tested device or parent.'),
    observedGeneration: nonNegativeInt.optional().describe('The metadata.generation these results answer.'),
    created: createdDevice.optional(),
    completedAt: timestamp.optional().describe('When the agent finished the probe (RFC 3339).'),
  })
  .describe('The agent\'s answers.');

export const mdevProbe = kindObject('MdevProbe', mdevProbeSpec, mdevProbeStatus);

export type MdevProbe = z.infer<typeof mdevProbe>;
export type MdevProbeSpec = z.infer<typeof mdevProbeSpec>;
export type MdevProbeStatus = z.infer<typeof mdevProbeStatus>;
export type ProbeResult = z.infer<typeof probeResult>;
export type ProbeCreate = z.infer<typeof probeCreate>;
