// NVIDIA vGPU as NVML's compatibility query and the NVIDIA/RHEL docs describe it: the board SKU
// must match (80 GB PCIe and 94 GB NVL do not mix), the host driver branch (major) must match with
// the target no older than the source (or equal, in strict mode), and the source's vGPU version
// must be in the target's supported range. Refusals name NVML's limit code.
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { ACCEPTED, einval, type Acceptance, type LocalConfig, type NvidiaBranchConfig, type ParentConfig, type PolicyRefusal, type VendorPolicy } from './policy.ts';
import { compareDotted, parseDotted, parseTagged } from './version-fields.ts';

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function version(parent: ParentConfig<NvidiaBranchConfig>, typeId: string, _params: CreationParam[]): string | PolicyRefusal {
  const p = parent.policy;
  return `nv1;board=${p.board};type=${typeId};host=${p.hostDriver};vgpu=${hex(p.vgpuVersion)}`;
}

function accept(local: LocalConfig<NvidiaBranchConfig>, source: string): Acceptance {
  const f = parseTagged(source.replace(/\n$/, ''), 'nv1');
  const srcHostText = f?.get('host') ?? '';
  const srcHost = parseDotted(srcHostText);
  const vgpuField = f?.get('vgpu') ?? '';
  if (!f || !srcHost || !/^0x[0-9a-f]{1,8}$/i.test(vgpuField)) return einval('OTHER: malformed vGPU migration metadata');
  const srcVgpu = Number.parseInt(vgpuField, 16);
  const p = local.parent.policy;
  if (f.get('board') !== p.board) return einval(`GPU: board ${f.get('board')} differs from local ${p.board}`);
  if (f.get('type') !== local.typeId) return einval(`OTHER: vGPU type ${f.get('type')} differs from local ${local.typeId}`);
  const hostCheck = checkHostDriver(srcHostText, srcHost, p);
  if (hostCheck) return einval(`HOST_DRIVER: ${hostCheck}`);
  const [min, max] = p.vgpuRange;
  if (srcVgpu < min || srcVgpu > max) {
    return einval(`HOST_DRIVER: vGPU version ${hex(srcVgpu)} outside the supported range [${hex(min)}, ${hex(max)}]`);
  }
  return ACCEPTED;
}

/** `srcText` is the source's version as written (`535.161.08`): messages quote it, comparisons use the numbers. */
function checkHostDriver(srcText: string, src: number[], p: NvidiaBranchConfig): string | undefined {
  const local = parseDotted(p.hostDriver) ?? [];
  if (src[0] !== local[0]) return `host driver branch differs (source ${srcText}, local ${p.hostDriver})`;
  const cmp = compareDotted(local, src);
  if (p.strict && cmp !== 0) return `host driver version differs (source ${srcText}, local ${p.hostDriver}; strict)`;
  if (cmp < 0) return `local host driver ${p.hostDriver} is older than the source's ${srcText}`;
  return undefined;
}

export const nvidiaBranch: VendorPolicy<NvidiaBranchConfig> = { version, accept };
