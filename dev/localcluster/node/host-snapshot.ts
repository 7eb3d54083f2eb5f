// What a real node can change on the machine, read in one go: a test compares the snapshot taken
// before `up --nodes 1` with the one after `down` (nothing may be left), and with one taken while
// the node runs (the snapshot must see the node, or the comparison would prove nothing).
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tryRun } from './exec.ts';
import { cgroupRoots, sysctlFile } from './host-journal.ts';
import { BRIDGE, HARD_CODED_PATHS, MACHINE_LOCK, SYSCTLS, nodeTools } from './layout.ts';

export interface HostSnapshot {
  sysctls: Record<string, string>;
  links: string[];
  routes: string[];
  nftTables: string[];
  cgroups: string[];
  mounts: string[];
  paths: string[];
  containerLogLinks: string[];
  processes: string[];
  machineLock: boolean;
}

export async function hostSnapshot(): Promise<HostSnapshot> {
  const t = nodeTools();
  const nft = await tryRun(t.nft.bin, ['list', 'tables'], { env: { LD_LIBRARY_PATH: t.nft.libDir } });
  return {
    sysctls: Object.fromEntries(SYSCTLS.filter((k) => existsSync(sysctlFile(k))).map((k) => [k, readFileSync(sysctlFile(k), 'utf8').trim()])),
    links: readdirSync('/sys/class/net').sort(),
    routes: (await tryRun('ip', ['route', 'show', 'table', 'all'])).stdout.split('\n').filter((l) => l.includes(BRIDGE) || /^(10\.0\.0\.|10\.244\.)/.test(l)).sort(),
    nftTables: nft.stdout.split('\n').filter(Boolean).sort(),
    cgroups: cgroupRoots().filter((r) => existsSync(join(r, 'kubepods'))),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.includes('.realnode') || m.includes('kubelet')).sort(),
    paths: HARD_CODED_PATHS.filter((p) => existsSync(p)),
    containerLogLinks: existsSync('/var/log/containers') ? readdirSync('/var/log/containers').sort() : [],
    processes: nodeProcesses(t.dir),
    machineLock: existsSync(MACHINE_LOCK),
  };
}

/** Processes running a binary from the node's tool cache (kubelet, containerd, shims, runc...). */
function nodeProcesses(toolsDir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const exe = readlinkSync(`/proc/${entry}/exe`);
      if (exe.startsWith(toolsDir)) out.push(`${entry} ${exe}`);
    } catch {
      /* gone, or a kernel thread */
    }
  }
  return out;
}
