// The chart's memory limit for a benchmark's child process: a memory cgroup of its own, as the
// container runtime gives the pod. It matters beyond the OOM kill: Node sizes V8's heap from the
// cgroup's limit (uv_get_constrained_memory), so in a 512 MiB pod V8's default young generation
// is 1 MiB semi-spaces and its old space 256 MiB, while on an unconstrained 24 GiB host they are
// 16-64 MiB and 4 GiB. A heap flag measured outside the limit measures another process.
// Needs root and a writable memory controller (cgroup v1 or v2); otherwise `undefined` and the
// caller says that the limit was not applied.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MemoryCgroup {
  /** Command prefix that moves the process into the cgroup before it starts (sh, then exec). */
  wrap(command: string, args: string[]): { command: string; args: string[] };
  /** Removes the cgroup (after its process has exited). */
  remove(): void;
  readonly limitBytes: number;
}

/** Kubernetes quantity (`512Mi`, `1Gi`, `600M`, bytes) to bytes. */
export function quantityBytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim());
  if (!m) throw new Error(`memory quantity "${q}" is not of the form 512Mi, 1Gi, 600M or plain bytes`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** Where this process's memory cgroup lives and which file sets its limit. */
function ownMemoryCgroup(): { dir: string; limitFile: string } | undefined {
  let lines: string[];
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1]?.split(',').includes('memory'));
  if (v1 && existsSync('/sys/fs/cgroup/memory')) return { dir: join('/sys/fs/cgroup/memory', v1[2] ?? '/'), limitFile: 'memory.limit_in_bytes' };
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2 && existsSync('/sys/fs/cgroup/cgroup.controllers')) return { dir: join('/sys/fs/cgroup', v2.slice(3)), limitFile: 'memory.max' };
  return undefined;
}

let seq = 0;

/** A fresh memory cgroup limited to `limitBytes`, or undefined where this machine does not allow one. */
export function memoryCgroup(limitBytes: number): MemoryCgroup | undefined {
  const own = ownMemoryCgroup();
  if (!own) return undefined;
  const dir = join(own.dir, `mdev-bench-${process.pid}-${seq++}`);
  try {
    mkdirSync(dir);
    writeFileSync(join(dir, own.limitFile), String(limitBytes));
  } catch {
    try {
      rmdirSync(dir);
    } catch {
      // never created
    }
    return undefined;
  }
  return {
    limitBytes,
    wrap: (command, args) => ({ command: '/bin/sh', args: ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, command, ...args] }),
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        // still populated (a process left behind) or gone: nothing to undo here
      }
    },
  };
}
