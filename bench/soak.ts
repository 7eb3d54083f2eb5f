// Soak: churning MdevMigrations on a simulated fleet (STAND-IN nodes running the real agent code,
// KubeVirt stand-in simulator) against the real local control plane, with the controller in a
// child process started as the chart starts it (bench/chart-controller.ts), so its memory is
// measured on its own and with the production heap flags. Nothing here deletes a MdevMigration:
// the controller's lifecycle (history limit, TTL) must keep its caches bounded. Reports RSS over
// time, API requests per successful migration by component (kube-apiserver's audit log by
// User-Agent; without one, apiserver_request_total by resource) and lost migrations (not terminal
// by deadline + grace). Bounded by --minutes.
//
//   npm run soak -- [--minutes 30] [--nodes 200] [--vms 60] [--inflight 8] [--kubeconfig PATH]
//
// Without --kubeconfig it starts (and afterwards removes) its own cluster `.localcluster/soak`.
// Writes .bench/soak.json and prints a summary. Not part of `npm test`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, type MdevMigration } from '../src/api/v1alpha1/index.ts';
import { MDEV_MIGRATIONS } from '../src/controller/resources.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { resourcePath } from '../src/kube/resource.ts';
import { down, REPO_ROOT, up } from '../dev/localcluster/index.ts';
import { startFleet, type FleetHandle } from '../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec, GpuSpec } from '../dev/sim/fleet/profile.ts';
import { STANDIN_USER_AGENTS } from '../dev/sim/user-agents.ts';
import { freePort } from '../dev/localcluster/processes.ts';
import { USER_AGENTS, withUserAgent } from '../src/kube/user-agent.ts';
import { auditWindows, type RequestCounts } from './audit-count.ts';
import { buildOnce, spawnChartController } from './chart-controller.ts';
import { waitReady } from './controller.ts';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    nodes: { type: 'string', default: '200' },
    vms: { type: 'string', default: '60' },
    inflight: { type: 'string', default: '8' },
    kubeconfig: { type: 'string' },
    'deadline-seconds': { type: 'string', default: '120' },
  },
});
const num = (flag: keyof typeof flags, min: number): number => {
  const n = Number(flags[flag]);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`--${flag} must be a number >= ${min}, got ${String(flags[flag])}\n`);
    process.exit(2);
  }
  return n;
};
const MINUTES = num('minutes', 0.1);
const NODES = num('nodes', 4);
const VMS = num('vms', 1);
const INFLIGHT = num('inflight', 1);
const DEADLINE_S = num('deadline-seconds', 30);
const LOST_GRACE_MS = 30_000;
const SAMPLE_MS = 5_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const log = (line: string) => process.stderr.write(`[soak] ${line}\n`);

/** Four compatible version classes of one type on the 550 branch, and every 8th node on 535 (incompatible). */
function fleetSpecs(prefix: string): FleetNodeSpec[] {
  const drivers = ['550.54.15', '550.90.07', '550.100.01', '550.127.05'];
  return Array.from({ length: NODES }, (_, i) => {
    const hostDriver = i % 8 === 7 ? '535.161.08' : (drivers[i % drivers.length] as string);
    const gpu: GpuSpec = { vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices: 4, spare: 0 };
    return { name: `${prefix}-${String(i + 1).padStart(3, '0')}`, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [gpu] };
  });
}

function rssOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * kube-apiserver's apiserver_request_total by resource, watches excluded (long-lived, not per
 * migration). /metrics is Prometheus text, which kubeRequest does not parse: read it via kubectl.
 */
async function apiRequestsViaKubectl(kubeconfig: string): Promise<Map<string, number>> {
  const { execFile } = await import('node:child_process');
  const text = await new Promise<string>((resolve) =>
    execFile('kubectl', ['--kubeconfig', kubeconfig, 'get', '--raw', '/metrics'], { maxBuffer: 256 * 1024 * 1024 }, (_e, stdout) => resolve(String(stdout))));
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    if (/verb="WATCH"/.test(line)) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    out.set(resource, (out.get(resource) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}
function diff(a: Map<string, number>, b: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of b) {
    const d = v - (a.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

/** Who is counted in the audit log, by User-Agent prefix. */
const COMPONENTS = {
  controller: USER_AGENTS.controller,
  agents: USER_AGENTS.agent,
  'kubevirt stand-in': STANDIN_USER_AGENTS.kubevirt,
  'fleet stand-in': STANDIN_USER_AGENTS.fleet,
  'soak driver': STANDIN_USER_AGENTS.bench,
} as const;

interface Sample {
  t: number;
  soakRssMiB: number;
  soakHeapMiB: number;
  controllerRssMiB: number;
  started: number;
  finished: number;
}

interface Tracked {
  name: string;
  vm: string;
  createdAt: number;
  phase?: string;
  /** status.message when it ended (why a migration failed). */
  message?: string;
  endedAt?: number;
}

async function main(): Promise<void> {
  const own = flags.kubeconfig === undefined;
  const cluster = own ? await up({ name: 'soak', log, audit: true }) : undefined;
  const kubeconfig = flags.kubeconfig ?? (cluster?.kubeconfig as string);
  const auditLog = cluster?.auditLog;
  const base = new KubeConfig();
  base.loadFromFile(kubeconfig);
  // The soak's own requests (creating migrations, watching them finish) are named as the driver's.
  const kc = withUserAgent(base, STANDIN_USER_AGENTS.bench);
  await buildOnce(log);
  const run = Date.now().toString(36);
  const opNs = `soak-${run}-op`;
  const ns = `soak-${run}-vm`;
  let fleet: FleetHandle | undefined;
  let controller: ChildProcess | undefined;
  try {
    const apply = spawn('kubectl', ['--kubeconfig', kubeconfig, 'apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'crds')], { stdio: 'ignore' });
    await new Promise((r) => apply.on('exit', r));
    for (const name of [opNs, ns]) await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });

    const t0 = Date.now();
    fleet = await startFleet({ kc, namespace: opNs, specs: fleetSpecs(`soak-${run}`), kubevirt: { namespace: ns, stepDelayMs: 50 }, resyncIntervalMs: 60_000 });
    log(`fleet of ${NODES} stand-in nodes up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const compatible = fleet.nodeNames.filter((_, i) => i % 8 !== 7);
    const vms: string[] = [];
    for (let i = 0; i < VMS; i++) {
      const vm = `vm-${i}`;
      await fleet.startVm({ namespace: ns, name: vm, node: compatible[(i * 7) % compatible.length] as string });
      vms.push(vm);
    }
    log(`${VMS} VMs running; starting the controller (child process) and ${MINUTES} min of churn, ${INFLIGHT} migrations in flight`);
    const healthPort = await freePort();
    controller = spawnChartController({ kubeconfig, namespace: opNs, healthPort });
    // The churn and the memory samples start once the controller is ready (caches synced), so the
    // first-half average does not include a process that has not loaded its caches yet.
    await waitReady(healthPort, controller);

    const samples: Sample[] = [];
    const tracked: Tracked[] = [];
    const idle = [...vms];
    const busy = new Map<string, Tracked>();
    let counter = 0;
    const before = await apiRequestsViaKubectl(kubeconfig);
    const churnStart = Date.now();
    // Requests are counted over the churn: from the first create to the last migration's end.
    const end = churnStart + MINUTES * 60_000;
    let nextSample = churnStart;

    // The driver rides out API errors (a loaded machine, a restarted component) as the operator must:
    // it logs them and tries again on the next round, so one failed request does not end the soak.
    let driverErrors = 0;
    while (Date.now() < end || busy.size > 0) {
      const now = Date.now();
      try {
        if (now < end) {
          while (busy.size < INFLIGHT && idle.length > 0) {
            const vm = idle.shift() as string;
            const name = `mig-${counter++}`;
            const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name, namespace: ns }, spec: { vmiName: vm, deadlineSeconds: DEADLINE_S } };
            // A failed create gives the VM back; if it was created after all, its name is not tracked
            // and the controller's history limit removes it.
            await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }), body }).catch((err: unknown) => {
              idle.push(vm);
              throw err;
            });
            const t: Tracked = { name, vm, createdAt: Date.now() };
            tracked.push(t);
            busy.set(name, t);
          }
        }
        const list = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }) })) as { items: MdevMigration[] };
        for (const m of list.items) {
          const t = busy.get(m.metadata.name);
          if (!t) continue;
          t.phase = m.status?.phase;
          t.message = m.status?.message;
          if (t.phase === 'Succeeded' || t.phase === 'Failed') {
            t.endedAt = Date.now();
            busy.delete(t.name);
            idle.push(t.vm);
          }
        }
      } catch (err) {
        driverErrors++;
        log(`t=${Math.round((Date.now() - churnStart) / 1000)}s the driver's API request failed (${driverErrors} so far): ${String(err)}; trying again`);
      }
      // Lost: not terminal by deadline + grace; stop waiting for it (counted below).
      for (const t of busy.values()) if (Date.now() > t.createdAt + DEADLINE_S * 1000 + LOST_GRACE_MS) busy.delete(t.name);
      if (Date.now() >= nextSample) {
        const mem = process.memoryUsage();
        samples.push({
          t: Math.round((Date.now() - churnStart) / 1000),
          soakRssMiB: mib(mem.rss), soakHeapMiB: mib(mem.heapUsed), controllerRssMiB: mib(rssOf(controller.pid)),
          started: tracked.length, finished: tracked.filter((t) => t.endedAt).length,
        });
        const s = samples.at(-1) as Sample;
        log(`t=${s.t}s migrations started ${s.started} finished ${s.finished}; RSS fleet+agents ${s.soakRssMiB} MiB (heap ${s.soakHeapMiB}), controller ${s.controllerRssMiB} MiB`);
        nextSample += SAMPLE_MS;
      }
      await sleep(500);
    }
    const after = await apiRequestsViaKubectl(kubeconfig);
    const churnEnd = Date.now();
    const requests = diff(before, after);
    const byComponent: Record<string, RequestCounts> = {};
    if (auditLog) {
      const audit = auditWindows(auditLog);
      for (const [name, ua] of Object.entries(COMPONENTS)) byComponent[name] = (await audit.perWindow(ua, { churn: [{ from: churnStart, to: churnEnd }] })).churn;
    }
    const finished = tracked.filter((t) => t.endedAt);
    const lost = tracked.filter((t) => !t.endedAt).map((t) => t.name);
    const succeeded = finished.filter((t) => t.phase === 'Succeeded').length;
    const total = Object.values(requests).reduce((a, b) => a + b, 0);
    const leases = requests.leases ?? 0;
    const durations = finished.map((t) => (t.endedAt as number) - t.createdAt).sort((a, b) => a - b);
    const pct = (p: number) => durations[Math.min(durations.length - 1, Math.floor(p * durations.length))] ?? 0;
    const half = Math.floor(samples.length / 2);
    const avg = (xs: Sample[], k: keyof Sample) => (xs.length ? Math.round((xs.reduce((a, s) => a + (s[k] as number), 0) / xs.length) * 10) / 10 : 0);
    const summary = {
      minutes: MINUTES, nodes: NODES, vms: VMS, inflight: INFLIGHT, deadlineSeconds: DEADLINE_S, driverErrors,
      migrations: { started: tracked.length, succeeded, failed: finished.length - succeeded, lost: lost.length, lostNames: lost, failures: finished.filter((t) => t.phase !== 'Succeeded').map((t) => `${t.name} (${t.vm}): ${t.message ?? ''}`) },
      durationMs: { p50: pct(0.5), p95: pct(0.95), max: durations.at(-1) ?? 0 },
      apiRequests: {
        total, leases, byResource: requests,
        /** From the audit log, per successful migration: writes and non-watch reads (Leases apart). */
        perSucceededByComponent: Object.fromEntries(Object.entries(byComponent).map(([name, c]) => [name, {
          writes: succeeded ? Math.round((c.writes / succeeded) * 10) / 10 : 0,
          reads: succeeded ? Math.round((c.reads / succeeded) * 10) / 10 : 0,
          lists: c.lists, leases: c.leases, byVerb: c.byVerb,
        }])),
        perMigration: finished.length ? Math.round((total / finished.length) * 10) / 10 : 0,
        perMigrationExcludingLeases: finished.length ? Math.round(((total - leases) / finished.length) * 10) / 10 : 0,
      },
      memory: {
        controllerRssMiB: { firstHalfAvg: avg(samples.slice(0, half), 'controllerRssMiB'), secondHalfAvg: avg(samples.slice(half), 'controllerRssMiB'), max: Math.max(0, ...samples.map((s) => s.controllerRssMiB)) },
        fleetAndAgentsRssMiB: { firstHalfAvg: avg(samples.slice(0, half), 'soakRssMiB'), secondHalfAvg: avg(samples.slice(half), 'soakRssMiB'), max: Math.max(0, ...samples.map((s) => s.soakRssMiB)) },
        fleetAndAgentsHeapMiB: { firstHalfAvg: avg(samples.slice(0, half), 'soakHeapMiB'), secondHalfAvg: avg(samples.slice(half), 'soakHeapMiB') },
      },
      samples,
    };
    mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
    writeFileSync(join(REPO_ROOT, '.bench', 'soak.json'), JSON.stringify(summary, null, 2));
    process.stdout.write([
      `soak: ${MINUTES} min, ${NODES} nodes, ${VMS} VMs, ${INFLIGHT} in flight`,
      `  migrations: ${tracked.length} started, ${succeeded} succeeded, ${finished.length - succeeded} failed, ${lost.length} lost`,
      ...summary.migrations.failures.slice(0, 10).map((f) => `    failed ${f}`),
      `  duration: p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms`,
      `  API requests (non-watch): ${total} total, ${summary.apiRequests.perMigration}/migration (${summary.apiRequests.perMigrationExcludingLeases}/migration without agent Lease renewals)`,
      ...Object.entries(summary.apiRequests.perSucceededByComponent).map(([name, c]) => `    ${name}: ${c.writes} writes, ${c.reads} reads per succeeded migration; ${c.lists} LISTs, ${c.leases} Lease requests in all`),
      `  controller RSS: ${summary.memory.controllerRssMiB.firstHalfAvg} → ${summary.memory.controllerRssMiB.secondHalfAvg} MiB (first/second half avg), max ${summary.memory.controllerRssMiB.max}`,
      `  fleet+agents RSS: ${summary.memory.fleetAndAgentsRssMiB.firstHalfAvg} → ${summary.memory.fleetAndAgentsRssMiB.secondHalfAvg} MiB, heap ${summary.memory.fleetAndAgentsHeapMiB.firstHalfAvg} → ${summary.memory.fleetAndAgentsHeapMiB.secondHalfAvg} MiB`,
      '  written to .bench/soak.json', '',
    ].join('\n'));
    process.exitCode = lost.length === 0 ? 0 : 1;
  } finally {
    if (controller && controller.exitCode === null) {
      controller.kill('SIGTERM');
      await Promise.race([new Promise((r) => controller?.on('exit', r)), sleep(15_000)]);
      if (controller.exitCode === null) controller.kill('SIGKILL');
    }
    // A failing stop must not hide the error that ended the soak.
    await fleet?.stop({ deleteNodes: true }).catch((err: unknown) => log(`stopping the fleet failed: ${String(err)}`));
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods`, query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
    for (const name of [ns, opNs]) await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${name}` }).catch(() => undefined);
    if (own) await down({ name: 'soak', purge: true });
  }
}

await main();
