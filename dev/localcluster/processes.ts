// Background processes of the local control plane, tracked by PID so `down` stops exactly what
// `up` started (and never an unrelated process that happens to reuse a PID).
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export function spawnDaemon(bin: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${bin}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** True when `pid` is alive AND runs `bin` (guards against PID reuse after a reboot or crash). */
export function isOurs(pid: number, bin: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0')[0] === bin;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`; `graceMs` 0 is a crash: SIGKILL at once, no SIGTERM to drain on. */
export async function stopProcess(pid: number, bin: string, graceMs = 10_000): Promise<void> {
  if (!isOurs(pid, bin)) return;
  try {
    process.kill(pid, graceMs <= 0 ? 'SIGKILL' : 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isOurs(pid, bin)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (isOurs(pid, bin)) await sleep(50);
}

/**
 * A free loopback port for a server started later (etcd, kube-apiserver, a test's health port),
 * taken from BELOW the kernel's ephemeral range. Between this check and the server's bind the port
 * is free for anyone: a port from the ephemeral range (what listen(0) returns) is also what every
 * outgoing connection on the machine takes as its source port, and a suite opening many
 * connections lost that race (kube-apiserver: "bind: address already in use"). Outgoing
 * connections never use ports below the range; other servers rarely listen there and are seen by
 * the bind check.
 */
export async function freePort(): Promise<number> {
  const range = belowEphemeralRange();
  if (!range) return anyPort(); // a machine whose ephemeral range leaves nothing below it
  const [low, high] = range;
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (!(await portInUse(port))) return port;
  }
  return anyPort();
}

/** [first, end) of the ports from 10000 up to the ephemeral range (32768 when unreadable); undefined if under 1000 ports. */
export function belowEphemeralRange(rangeFile = '/proc/sys/net/ipv4/ip_local_port_range'): [number, number] | undefined {
  let ephemeralLow = 32_768;
  try {
    const first = Number(readFileSync(rangeFile, 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 0) ephemeralLow = first;
  } catch {
    /* not Linux, or /proc not mounted: keep the default */
  }
  return ephemeralLow >= 11_000 ? [10_000, ephemeralLow] : undefined;
}

function anyPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** etcd logs JSON lines; the Kubernetes binaries log klog lines (`E1130 …`, `F1130 …`). */
function importantLine(line: string): string | undefined {
  if (line.startsWith('{')) {
    try {
      const j = JSON.parse(line) as { level?: string; msg?: string; error?: string; path?: string };
      if (!['error', 'panic', 'fatal'].includes(j.level ?? '')) return undefined;
      return `${j.level}: ${j.msg ?? ''}${j.path ? ` (${j.path})` : ''}${j.error ? `: ${j.error}` : ''}`;
    } catch {
      return undefined;
    }
  }
  if (/^(panic:|fatal error:|Error:|[EF]\d{4} )/.test(line)) return line.slice(0, 400);
  return undefined;
}

/**
 * The lines of a component's log that say why it failed (errors, panics, fatal lines), rather
 * than the goroutine dump that usually ends a crashed Go binary's log; the plain tail otherwise.
 */
export function logSummary(file: string, lines = 6): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '(no log)';
  }
  const important = text.trimEnd().split('\n').slice(-400).map(importantLine).filter((l): l is string => l !== undefined);
  const picked = important.length > 0 ? [...new Set(important)].slice(-lines) : text.trimEnd().split('\n').slice(-15);
  return `${picked.map((l) => `  ${l}`).join('\n')}\n  (full log: ${file})`;
}
