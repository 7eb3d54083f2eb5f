// The machine a run measured on, for the report's provenance lines.
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, totalmem, type as osType } from 'node:os';
import type { Machine } from './types.ts';

/** CPU model from /proc/cpuinfo (os.cpus() as a fallback off Linux). */
async function cpuModel(): Promise<string> {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const line = /^model name\s*:\s*(.+)$/m.exec(info)?.[1];
  return (line ?? cpus()[0]?.model ?? 'unknown CPU').trim();
}

export function loadAverage(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100;
}

export async function describeMachine(kubernetes: string, load = loadAverage()): Promise<Machine> {
  return {
    cpu: await cpuModel(),
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kubernetes,
    os: `${osType()} ${release()}`,
    loadAverage: load,
  };
}
