// Dispatches a parent's policy spec to its pure module, so callers hold plain data only.
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { accelConfig } from './accel-config.ts';
import { gvtExact } from './gvt-exact.ts';
import { mttyStream } from './mtty-stream.ts';
import { nvidiaBranch } from './nvidia-branch.ts';
import type { Acceptance, LocalConfig, ParentConfig, PolicyRefusal } from './policy.ts';

export const POLICY_NAMES = ['gvt-exact', 'nvidia-branch', 'mtty-stream', 'accel-config'] as const;

export function policyVersion(parent: ParentConfig, typeId: string, params: CreationParam[]): string | PolicyRefusal {
  const p = parent.policy;
  switch (p.name) {
    case 'gvt-exact': return gvtExact.version({ ...parent, policy: p }, typeId, params);
    case 'nvidia-branch': return nvidiaBranch.version({ ...parent, policy: p }, typeId, params);
    case 'mtty-stream': return mttyStream.version({ ...parent, policy: p }, typeId, params);
    case 'accel-config': return accelConfig.version({ ...parent, policy: p }, typeId, params);
  }
}

export function policyAccept(local: LocalConfig, source: string): Acceptance {
  const p = local.parent.policy;
  switch (p.name) {
    case 'gvt-exact': return gvtExact.accept({ ...local, parent: { ...local.parent, policy: p } }, source);
    case 'nvidia-branch': return nvidiaBranch.accept({ ...local, parent: { ...local.parent, policy: p } }, source);
    case 'mtty-stream': return mttyStream.accept({ ...local, parent: { ...local.parent, policy: p } }, source);
    case 'accel-config': return accelConfig.accept({ ...local, parent: { ...local.parent, policy: p } }, source);
  }
}

/** Instances still creatable per the driver's own accounting, or undefined to count instances. */
export function policyAvailable(parent: ParentConfig, typeId: string, used: ReadonlyMap<string, number>): number | undefined {
  const p = parent.policy;
  return p.name === 'mtty-stream' ? mttyStream.available?.({ ...parent, policy: p }, typeId, used) : undefined;
}
