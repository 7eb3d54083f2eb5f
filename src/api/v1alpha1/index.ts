// The v1alpha1 API of mdev-operator.io: schemas, types, constants and naming helpers.
export * from './constants.ts';
export * from './mdev-device.ts';
export * from './mdev-migration.ts';
export * from './mdev-probe.ts';
export * from './mdev-node.ts';
export * from './names.ts';
export * from './immutable-fields.ts';
export * from './wire.ts';
export { objectMeta, type ObjectMeta } from './object.ts';
export { condition, type Condition } from './fields.ts';
