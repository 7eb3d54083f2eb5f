// The admission webhook's Reserver on top of the controller's capacity claims (claims.ts, and
// docs/adr/0016-capacity-claims.md): the units of each pool on the chosen node claimed for the
// admission record in one compare-and-swap write of the node's MdevNode, all or none.
import { claimDemands, type CapacityClaims } from '../controller/services.ts';
import { ReservationLostError, type Reserver } from './admission-ports.ts';

/** How long an admission claim holds unless its migration releases it first (the MdevMigration default deadline). */
export const ADMISSION_CLAIM_SECONDS = 900;

export function claimsReserver(c: Pick<CapacityClaims, 'claim' | 'release'>, now: () => number = Date.now): Reserver {
  return {
    async reserve(migration, targetNode, devices) {
      const typeOf = new Map(devices.map((d) => [d.source, d.typeId]));
      const result = await c.claim(migration, targetNode, claimDemands(devices, (s) => typeOf.get(s)), now() + ADMISSION_CLAIM_SECONDS * 1000);
      if (!result.ok) throw new ReservationLostError(result.pool, result.reason);
    },
    async release(migration, targetNode) {
      await c.release(migration.uid, targetNode);
    },
  };
}
