// What a CRD shows besides its schema: descriptions, printer columns, selectable fields.
import { LABEL_VERSION_HASH, type KindName } from '../v1alpha1/constants.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface Presentation {
  scope: 'Cluster' | 'Namespaced';
  description: string;
  columns: PrinterColumn[];
  /** Fields usable in field selectors, e.g. agents selecting their own node's objects. */
  selectableFields: string[];
}

const AGE: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' };
const NODE: PrinterColumn = { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', description: 'The node.' };

export const PRESENTATION: Record<KindName, Presentation> = {
  MdevDevice: {
    scope: 'Cluster',
    description:
      'One mediated (mdev) or vendor-VFIO device on one node, with its migration version string. Published by the node\'s agent.',
    columns: [
      NODE,
      { name: 'Type', type: 'string', jsonPath: '.spec.type.id', description: 'mdev type.' },
      {
        name: 'Version-Hash',
        type: 'string',
        jsonPath: `.metadata.labels.${LABEL_VERSION_HASH.replaceAll('.', '\\.')}`,
        description: 'Digest of the migration version string; equal hashes answer probes the same way.',
      },
      { name: 'Migratable', type: 'boolean', jsonPath: '.status.migratable', description: 'Whether the version string was read.' },
      { name: 'Consumer', type: 'string', jsonPath: '.status.consumer.name', description: 'VMI (or non-VMI Pod) using the device; empty when free.' },
      { name: 'Kind', type: 'string', jsonPath: '.spec.kind', description: 'mdev or vfio-pci.', priority: 1 },
      { name: 'Consumer-Kind', type: 'string', jsonPath: '.status.consumer.kind', description: 'VirtualMachineInstance, or Pod for a pod that runs no VMI.', priority: 1 },
      {
        name: 'Version-Kind',
        type: 'string',
        jsonPath: '.status.versionKind',
        description: 'Instance (a running device\'s own state) or Class (a free device\'s class key), where the backend tells them apart.',
        priority: 1,
      },
      AGE,
    ],
    selectableFields: ['.spec.nodeName'],
  },
  MdevMigration: {
    scope: 'Namespaced',
    description: 'A request to live-migrate one VMI with mediated devices to a node whose agent accepts its devices.',
    columns: [
      { name: 'VMI', type: 'string', jsonPath: '.spec.vmiName', description: 'The VirtualMachineInstance.' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Progress of the migration.' },
      { name: 'Source', type: 'string', jsonPath: '.status.sourceNode', description: 'Node the VMI runs on.' },
      { name: 'Target', type: 'string', jsonPath: '.status.targetNode', description: 'Chosen target node.' },
      { name: 'Probes', type: 'integer', jsonPath: '.status.probes', description: 'Probes the decision cost.', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', description: 'Summary.', priority: 1 },
      AGE,
    ],
    selectableFields: ['.spec.vmiName'],
  },
  MdevProbe: {
    scope: 'Cluster',
    description:
      'A question to the agent of one node: does it accept this source migration version string? Answered in status.',
    columns: [
      NODE,
      { name: 'Type', type: 'string', jsonPath: '.spec.typeId', description: 'mdev type tested.' },
      { name: 'Completed', type: 'date', jsonPath: '.status.completedAt', description: 'When the agent answered.' },
      AGE,
    ],
    selectableFields: ['.spec.nodeName'],
  },
  MdevNode: {
    scope: 'Cluster',
    description: 'Spare mdev capacity of one node per parent and type, with type-level version strings. Named after the node.',
    columns: [
      { name: 'Backend', type: 'string', jsonPath: '.spec.backend', description: 'Compatibility backend of the agent.' },
      AGE,
    ],
    selectableFields: [],
  },
};
