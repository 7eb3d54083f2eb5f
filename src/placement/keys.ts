// Identity keys. Version strings are printable ASCII (src/api/validation.ts), so NUL can never occur
// inside one and is a safe separator.

import type { TargetRef } from './types.ts';

const SEP = '\u0000';

/** Key of a verdict: does a device of `typeId` with `targetVersion` accept `sourceVersion`? */
export function verdictKey(typeId: string, sourceVersion: string, targetVersion: string): string {
  return typeId + SEP + sourceVersion + SEP + targetVersion;
}

/** Stable id of a target: the MdevDevice name, or `node/parent/type` for a creatable slot. */
export function targetId(target: TargetRef): string {
  return target.kind === 'device' ? target.name : `${target.nodeName}/${target.parentAddress}/${target.typeId}`;
}
