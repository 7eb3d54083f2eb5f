// The mtty sample's migration stream header check: magic, major and minor version equal, no
// flags, and the same number of ports as the target type. A header mismatch fails the resume
// write with EFAULT; a string that is not a header at all is EINVAL (a short stream). Types draw
// on a shared pool of ports, so creating an `mtty-2` lowers what `mtty-1` can still offer.
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { ACCEPTED, einval, type Acceptance, type LocalConfig, type MttyStreamConfig, type ParentConfig, type PolicyRefusal, type VendorPolicy } from './policy.ts';
import { parseTagged } from './version-fields.ts';

export const MTTY_MAGIC = '7e9d09898c3e2c4e';
const DEFAULT_POOL = 24;

/** `mtty-2` → 2 ports (the sample's nr_ports per type). */
export function mttyPorts(typeId: string): number {
  const n = Number.parseInt(typeId.slice(typeId.lastIndexOf('-') + 1), 10);
  return Number.isInteger(n) && n > 0 ? n : 1;
}

function version(parent: ParentConfig<MttyStreamConfig>, typeId: string, _params: CreationParam[]): string | PolicyRefusal {
  const p = parent.policy;
  const flags = p.flags ? `;flags=${p.flags}` : '';
  return `mtty;magic=${MTTY_MAGIC};ver=${p.streamVersion ?? '1.0'}${flags};ports=${mttyPorts(typeId)}`;
}

function accept(local: LocalConfig<MttyStreamConfig>, source: string): Acceptance {
  const f = parseTagged(source.replace(/\n$/, ''), 'mtty');
  const ver = /^(\d+)\.(\d+)$/.exec(f?.get('ver') ?? '');
  if (!f || !ver || !f.has('magic') || !f.has('ports')) return einval('short or malformed migration stream header');
  const [major, minor] = (local.parent.policy.streamVersion ?? '1.0').split('.');
  const efault = (reason: string): PolicyRefusal => ({ errno: 'EFAULT', reason });
  if (f.get('magic') !== MTTY_MAGIC) return efault(`bad stream magic ${f.get('magic')}`);
  if (ver[1] !== major || ver[2] !== minor) return efault(`stream version ${ver[1]}.${ver[2]} differs from local ${major}.${minor}`);
  if ((f.get('flags') ?? '0') !== '0') return efault(`unsupported stream flags ${f.get('flags')}`);
  const ports = mttyPorts(local.typeId);
  if (f.get('ports') !== String(ports)) return efault(`source has ${f.get('ports')} ports, local type ${local.typeId} has ${ports}`);
  return ACCEPTED;
}

/** free ports / ports per instance, from the shared pool (24 and 12 on a fresh load). */
function available(parent: ParentConfig<MttyStreamConfig>, typeId: string, used: ReadonlyMap<string, number>): number {
  let usedPorts = 0;
  for (const [t, count] of used) usedPorts += mttyPorts(t) * count;
  const free = Math.max(0, (parent.policy.poolPorts ?? DEFAULT_POOL) - usedPorts);
  return Math.floor(free / mttyPorts(typeId));
}

export const mttyStream: VendorPolicy<MttyStreamConfig> = { version, accept, available };
