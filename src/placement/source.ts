// Step 1 of §4: the VMI's node and the devices it consumes. Every one of them must be migratable,
// otherwise no target can make the migration safe and the request fails before any probe.

import { compareStrings } from './ordering.ts';
import type { Device, Source, SourceDevice, SourceResult, SourceVm } from './types.ts';

export function resolveSource(vm: SourceVm, devices: readonly Device[]): SourceResult {
  const vmRef = `VMI ${vm.namespace}/${vm.name}`;
  if (vm.unreadable) {
    return { ok: false, reason: `${vmRef}: ${vm.unreadable} could not be read, so no target can be checked against it; the operator refuses to move it (fix the field, or upgrade mdev-operator if KubeVirt changed its shape)` };
  }
  if (!vm.nodeName) {
    return { ok: false, reason: `${vmRef} is not running on any node (status.nodeName is empty); start it before migrating` };
  }
  // Callers pass the VMI's own devices (Fleet.devicesByConsumer); any list works, others are skipped.
  const own: Device[] = [];
  for (const d of devices) if (d.consumerUid === vm.uid) own.push(d);
  own.sort((a, b) => compareStrings(a.name, b.name));
  if (own.length === 0) {
    return {
      ok: false,
      reason: `${vmRef} (uid ${vm.uid}) uses no MdevDevice (no device has it as consumer); if it has mediated devices, check that the agent on ${vm.nodeName} is running`,
    };
  }
  const sourceDevices: SourceDevice[] = [];
  for (const d of own) {
    if (d.nodeName !== vm.nodeName) {
      return {
        ok: false,
        reason: `MdevDevice ${d.name} on node ${d.nodeName} names ${vmRef} as consumer, but the VMI runs on ${vm.nodeName}; wait for the agents to republish`,
      };
    }
    if (!d.migratable || d.version === undefined) {
      return {
        ok: false,
        reason: `MdevDevice ${d.name} (${d.typeId}) of ${vmRef} is not migratable: its driver publishes no migration version; ${vmRef} cannot be live-migrated`,
      };
    }
    sourceDevices.push({ name: d.name, typeId: d.typeId, pool: d.pool, parentAddress: d.parentAddress, version: d.version });
  }
  return { ok: true, source: makeSource(vm, sourceDevices) };
}

function makeSource(vm: SourceVm, devices: SourceDevice[]): Source {
  const versionsByType = new Map<string, string[]>();
  for (const d of devices) {
    const list = versionsByType.get(d.typeId) ?? [];
    if (!list.includes(d.version)) list.push(d.version);
    versionsByType.set(d.typeId, list);
  }
  for (const list of versionsByType.values()) list.sort(compareStrings);
  return { vm, nodeName: vm.nodeName, devices, versionsByType };
}
