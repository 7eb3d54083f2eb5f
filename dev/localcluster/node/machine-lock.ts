// One real node per machine: its bridge, nftables tables, /kubepods cgroups and hard-coded paths
// are machine-wide. The holder (a cluster directory) is written to a file under /run (cleared at
// reboot); a second cluster asking for a node while the holder's node runs is refused, naming it.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ClusterError } from '../errors.ts';
import { MACHINE_LOCK } from './layout.ts';

export interface LockHolder {
  cluster: string;
  pid: number;
  since: string;
}

export function readHolder(file = MACHINE_LOCK): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock for `cluster`. `holderRuns` says whether a recorded holder's node still runs; a
 * holder that does not is stale (its run was killed) and `clearStale` undoes what it left first.
 */
export async function acquireMachineLock(cluster: string, holderRuns: (h: LockHolder) => boolean,
  clearStale: (h: LockHolder) => Promise<void>, file = MACHINE_LOCK): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      writeSync(fd, JSON.stringify({ cluster, pid: process.pid, since: new Date().toISOString() } satisfies LockHolder));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (holder && holder.cluster !== cluster && holderRuns(holder)) {
      const name = basename(holder.cluster) === '.localcluster' ? '' : ` -- --name ${basename(holder.cluster)}`;
      throw new ClusterError(
        `a real node already runs on this machine, for the local cluster in ${holder.cluster} (since ${holder.since}); only one real node can run per machine (its bridge, nftables tables and cgroups are machine-wide)`,
        `stop it first with \`npm run cluster:down${name}\` (from that checkout), or start this cluster without --nodes`,
      );
    }
    if (holder) await clearStale(holder);
    rmSync(file, { force: true });
  }
  throw new ClusterError(`could not take the real-node lock ${file}`, `remove ${file} if no real node runs, then run again`);
}

export function releaseMachineLock(cluster: string, file = MACHINE_LOCK): void {
  const holder = readHolder(file);
  if (holder?.cluster === cluster || (holder === undefined && existsSync(file))) rmSync(file, { force: true });
  try {
    rmdirSync(dirname(file)); // only if empty
  } catch {
    /* other files there, or gone */
  }
}
