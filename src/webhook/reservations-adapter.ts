// The admission webhook's Reserver on top of the controller's Reservations (the reservation
// protocol of docs/architecture.md): all-or-none in name order, a loss rolled back by it.
import type { Reservations } from '../controller/services.ts';
import { ReservationLostError, type Reserver } from './admission-ports.ts';

/** How long an admission reservation holds unless its migration releases it first (the MdevMigration default deadline). */
export const ADMISSION_RESERVATION_SECONDS = 900;

export function reservationsReserver(r: Pick<Reservations, 'reserve' | 'release'>, now: () => number = Date.now): Reserver {
  return {
    async reserve(migration, targetNode, devices) {
      const result = await r.reserve(migration, targetNode, devices, now() + ADMISSION_RESERVATION_SECONDS * 1000);
      if (!result.ok) throw new ReservationLostError(result.device, result.reason);
    },
    async release(migration, devices) {
      for (const name of [...devices].sort()) await r.release(migration.uid, name);
    },
  };
}
