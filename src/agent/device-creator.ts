// Creates a duplicate mdev through the type's `create` attribute (allowCreateTarget): one write of
// a validated UUID, as mdev_sysfs.c's create_store expects. Creation parameters would need
// mdevctl's definition store on the host, which the agent does not write (DESIGN §6: allow-listed
// sysfs attributes only), so a request carrying them is refused with that reason.
import { isUuid } from '../api/validation.ts';
import { errnoReason } from '../compat/errno-verdict.ts';
import type { CreationParam, TypeCapacity } from '../sysfs/inventory.ts';
import { SysfsError, type SysfsIO } from '../sysfs/sysfs-io.ts';

export type CreateOutcome = { ok: true } | { ok: false; errno?: string; reason: string };

export interface CreateRequest {
  slot: TypeCapacity;
  uuid: string;
  creationParams?: readonly CreationParam[];
}

export function createMdev(io: SysfsIO, req: CreateRequest): CreateOutcome {
  const where = `type ${req.slot.type.id} on ${req.slot.parent.address}`;
  if (!isUuid(req.uuid)) return { ok: false, reason: `refused to create: ${JSON.stringify(req.uuid.slice(0, 64))} is not a canonical lowercase UUID` };
  if ((req.creationParams ?? []).length > 0) {
    return { ok: false, reason: `refused to create on ${where}: creation parameters need an mdevctl definition on the host, which the agent does not write` };
  }
  if (req.slot.createPath === undefined) return { ok: false, reason: `${where} has no create attribute` };
  if (req.slot.availableInstances <= 0) return { ok: false, errno: 'EUSERS', reason: `${where} has no available instances` };
  try {
    const written = io.writeAttr(req.slot.createPath, req.uuid);
    if (written !== req.uuid.length) return { ok: false, reason: `create on ${where} took ${written} of ${req.uuid.length} bytes` };
    return { ok: true };
  } catch (err) {
    const code = err instanceof SysfsError ? err.code : 'EIO';
    const detail = err instanceof SysfsError ? (err.detail ?? err.message) : String(err);
    return { ok: false, errno: code, reason: `creating mdev ${req.uuid} on ${where} failed: ${errnoReason(code, detail)}` };
  }
}
