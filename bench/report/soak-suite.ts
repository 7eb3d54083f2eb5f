// The soak (`npm run soak`, 10–30 minutes) is too long for `npm run bench`, so this suite reports the
// figures of the last soak run from `.bench/soak.json` rather than running one. No file, no figures.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../../dev/localcluster/paths.ts';
import type { Result, Suite } from './types.ts';

export const SOAK_RESULT_FILE = join(REPO_ROOT, '.bench', 'soak.json');

interface SoakFile {
  minutes: number;
  nodes: number;
  vms: number;
  inflight: number;
  migrations: { started: number; succeeded: number; failed: number; lost: number };
  durationMs: { p50: number; p95: number; max: number };
  apiRequests: {
    perMigration: number;
    perMigrationExcludingLeases: number;
    /** Audit log by User-Agent (absent when the soak ran on a cluster without one). */
    perSucceededByComponent?: Record<string, { writes: number; reads: number; lists: number; leases: number }>;
  };
  memory: {
    controllerRssMiB: { firstHalfAvg: number; secondHalfAvg: number; max: number };
    fleetAndAgentsRssMiB: { firstHalfAvg: number; secondHalfAvg: number; max: number };
  };
}

/** Rows from a soak result; exported for tests. */
export function soakRows(s: SoakFile): Result[] {
  const c = s.memory.controllerRssMiB;
  const f = s.memory.fleetAndAgentsRssMiB;
  const flat = c.secondHalfAvg <= c.firstHalfAvg * 1.02;
  const op = s.apiRequests.perSucceededByComponent?.controller;
  const others = Object.entries(s.apiRequests.perSucceededByComponent ?? {}).filter(([k]) => k !== 'controller').map(([k, v]) => `${k} ${v.writes} writes + ${v.reads} reads`).join('; ');
  return [
    { id: 'migrations', label: `Migrations in ${s.minutes} min (${s.nodes} nodes, ${s.vms} VMs, ${s.inflight} in flight)`, unit: 'migrations', value: s.migrations.succeeded, note: `${s.migrations.started} started, ${s.migrations.failed} failed` },
    { id: 'lost', label: 'Lost migrations (not terminal 30 s after their deadline)', unit: 'migrations', value: s.migrations.lost, target: { of: 'value', max: 0, text: '= 0' } },
    { id: 'duration', label: 'Migration duration, created → Succeeded (p50; p95 in the p99 column)', unit: 'ms', median: s.durationMs.p50, p99: s.durationMs.p95 },
    { id: 'api-per-migration', label: 'API requests per migration (non-watch; agent Lease renewals excluded)', unit: 'requests', value: s.apiRequests.perMigrationExcludingLeases, note: `${s.apiRequests.perMigration} with Lease renewals` },
    ...(op
      ? [
          { id: 'controller-writes', label: 'Controller API writes per succeeded migration (audit log; Leases apart)', unit: 'writes', value: op.writes, target: { of: 'value' as const, max: 12, text: '≤ 12 (floor ~6: Planned, claim, VMIM, Migrating, Succeeded, release)' }, note: `others per succeeded migration: ${others}` },
          { id: 'controller-reads', label: 'Controller non-watch reads per succeeded migration (audit log)', unit: 'reads', value: op.reads },
          { id: 'controller-lists', label: 'Controller LIST calls during the churn (audit log)', unit: 'lists', value: op.lists, note: 'informer relists (every 10 min per informer) are the only expected ones' },
        ]
      : []),
    { id: 'controller-rss', label: 'Controller RSS, second-half average (first half in the note)', unit: 'MiB', value: c.secondHalfAvg, target: { text: 'flat: second half ≤ first half + 2%', met: flat }, note: `first half ${c.firstHalfAvg} MiB, max ${c.max} MiB` },
    { id: 'controller-rss-max', label: 'Controller RSS, maximum over the soak', unit: 'MiB', value: c.max, target: { of: 'value', max: 200, text: '≤ 200 MiB' } },
    { id: 'fleet-rss', label: 'Simulated fleet + agents RSS, second-half average (one process)', unit: 'MiB', value: f.secondHalfAvg, note: `first half ${f.firstHalfAvg} MiB, max ${f.max} MiB` },
  ];
}

export function soakSuite(): Suite {
  return {
    name: 'soak',
    title: 'Soak (last `npm run soak`)',
    needsCluster: false,
    about: 'Churning migrations on a 200-node simulated fleet with the controller in its own process, started as the chart starts it (compiled, the chart\'s args and environment, inside the container\'s memory limit), for `--minutes` (default 30). Nothing deletes a MdevMigration but the controller\'s lifecycle (chart defaults: 5 finished records kept per VMI). Request counts per component from kube-apiserver\'s audit log by User-Agent. `npm run soak` writes `.bench/soak.json`; `npm run bench -- --only soak` puts its figures here.',
    planned: ['migrations, lost migrations (target 0), controller and agent RSS over time (target: flat), API requests per migration'],
    async run() {
      let text: string;
      try {
        text = await readFile(SOAK_RESULT_FILE, 'utf8');
      } catch {
        throw new Error(`no soak result at ${SOAK_RESULT_FILE}: run \`npm run soak\` first`);
      }
      return soakRows(JSON.parse(text) as SoakFile);
    },
  };
}
