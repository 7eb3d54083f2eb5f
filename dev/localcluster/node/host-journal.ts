// Every machine-wide change a real node makes, written to a journal file BEFORE it is made, so
// `cluster:down` (or the clean-up of a failed `up`, or of a run that was killed) undoes exactly
// those changes, in reverse order, and nothing else.
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClusterError } from '../errors.ts';
import { run, tryRun } from './exec.ts';

export type HostChange =
  /** A kernel tunable and its value before the node ran (the kubelet and the bridge change some). */
  | { kind: 'sysctl'; key: string; before: string }
  /** A path outside the cluster directory that did not exist: removed at undo if it appeared. */
  | { kind: 'path'; path: string }
  /** A network link we create (the pod bridge). */
  | { kind: 'link'; name: string }
  /** A route we add, as `ip route` arguments. */
  | { kind: 'route'; spec: string[] }
  /** An nftables table that we or kube-proxy create. */
  | { kind: 'nft-table'; family: string; name: string }
  /** A cgroup directory (in every hierarchy) that the kubelet creates. */
  | { kind: 'cgroup'; name: string }
  /** Symlinks in `dir` that point into `target` (the kubelet's /var/log/containers links). */
  | { kind: 'symlinks'; dir: string; target: string };

export interface UndoTools {
  /** The nft binary and the libraries it needs (unpacked from Debian into the node cache). */
  nft: { bin: string; libDir: string };
}

export class HostJournal {
  readonly file: string;
  private changes: HostChange[];

  constructor(file: string) {
    this.file = file;
    this.changes = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as HostChange[]) : [];
  }

  get entries(): readonly HostChange[] {
    return this.changes;
  }

  /** Records `change` (durably) before the caller makes it. */
  record(change: HostChange): void {
    this.changes.push(change);
    writeFileSync(this.file, JSON.stringify(this.changes, null, 2));
  }

  /** Records that `path` will be removed at undo, if nothing is there now. */
  recordPathIfAbsent(path: string): void {
    if (!existsSync(path)) this.record({ kind: 'path', path });
  }

  recordSysctl(key: string): void {
    const file = sysctlFile(key);
    if (existsSync(file)) this.record({ kind: 'sysctl', key, before: readFileSync(file, 'utf8').trim() });
  }

  /** Undoes every change, newest first; keeps going past failures and reports them all at the end. */
  async undo(tools: UndoTools): Promise<void> {
    const failures: string[] = [];
    for (const change of [...this.changes].reverse()) {
      try {
        await undoOne(change, tools);
      } catch (err) {
        failures.push(`${describe(change)}: ${(err as Error).message}`);
      }
    }
    if (failures.length > 0) {
      writeFileSync(this.file, JSON.stringify(this.changes, null, 2));
      throw new ClusterError(`could not undo ${failures.length} host change(s):\n  ${failures.join('\n  ')}`,
        `undo them by hand (the journal is ${this.file}), then run the same \`cluster:down\` again`);
    }
    rmSync(this.file, { force: true });
    this.changes = [];
  }
}

export function sysctlFile(key: string): string {
  return join('/proc/sys', key.replaceAll('.', '/'));
}

function describe(c: HostChange): string {
  switch (c.kind) {
    case 'sysctl': return `sysctl ${c.key}=${c.before}`;
    case 'path': return `path ${c.path}`;
    case 'link': return `link ${c.name}`;
    case 'route': return `route ${c.spec.join(' ')}`;
    case 'nft-table': return `nftables table ${c.family} ${c.name}`;
    case 'cgroup': return `cgroup /${c.name}`;
    case 'symlinks': return `symlinks in ${c.dir} to ${c.target}`;
  }
}

async function undoOne(c: HostChange, tools: UndoTools): Promise<void> {
  switch (c.kind) {
    case 'sysctl':
      writeFileSync(sysctlFile(c.key), c.before);
      return;
    case 'path':
      rmSync(c.path, { recursive: true, force: true });
      return;
    case 'link':
      if ((await tryRun('ip', ['link', 'show', c.name])).code === 0) await run('ip', ['link', 'del', c.name]);
      return;
    case 'route':
      if ((await tryRun('ip', ['route', 'show', ...c.spec])).stdout.trim() !== '') await run('ip', ['route', 'del', ...c.spec]);
      return;
    case 'nft-table': {
      const env = { LD_LIBRARY_PATH: tools.nft.libDir };
      if ((await tryRun(tools.nft.bin, ['list', 'table', c.family, c.name], { env })).code === 0) {
        await run(tools.nft.bin, ['delete', 'table', c.family, c.name], { env });
      }
      return;
    }
    case 'cgroup':
      for (const root of cgroupRoots()) removeCgroupTree(join(root, c.name));
      return;
    case 'symlinks':
      if (!existsSync(c.dir)) return;
      for (const entry of readdirSync(c.dir, { withFileTypes: true })) {
        if (!entry.isSymbolicLink()) continue;
        const link = join(c.dir, entry.name);
        if (readLink(link).startsWith(c.target)) rmSync(link, { force: true });
      }
      return;
  }
}

function readLink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** The cgroup hierarchies: each v1 controller mount plus the unified (v2) one. */
export function cgroupRoots(): string[] {
  const base = '/sys/fs/cgroup';
  if (existsSync(join(base, 'cgroup.controllers'))) return [base];
  return readdirSync(base, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(base, e.name));
}

/** Removes an (empty of processes) cgroup tree, deepest first; cgroup dirs are removed with rmdir. */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(join(dir, entry.name));
  }
  rmdirSync(dir);
}
