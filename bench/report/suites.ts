// The suites `npm run bench` knows, and how each is loaded. A suite module may export
// `suite: Suite` (types.ts) and is then used as is; the agent, controller and admission modules may
// instead export a function returning plain figures, which an adapter here turns into report rows.
// A module that is missing, or exports neither, makes its suite "not run" with the reason — the
// harness never fills in a number a module did not return.
import { suite as cachesSuite } from '../cache-size.ts';
import { suite as nvmlSuite } from '../nvml.ts';
import { placementSuite } from '../placement.ts';
import { soakSuite } from './soak-suite.ts';
import type { Result, Suite, SuiteContext, SuiteInfo, Target } from './types.ts';

export type Loaded = { ok: true; suite: Suite } | { ok: false; reason: string };

export interface SuiteEntry extends SuiteInfo {
  load(): Promise<Loaded>;
}

/** One row an adapter reads from a figures object: `key` for a value, or `median`/`p99` keys. */
export interface FieldSpec {
  id: string;
  label: string;
  unit: string;
  value?: string;
  median?: string;
  p99?: string;
  samples?: string;
  baseline?: string;
  target?: Target;
  /** A per-decision target judged by the module: the key counts decisions that missed it (0 = met). */
  missCount?: { key: string; text: string };
}

const num = (o: Record<string, unknown>, key: string | undefined): number | undefined => {
  const v = key === undefined ? undefined : o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
};

/** Rows for the fields present in `figures`; a row whose numbers are all missing says so instead. */
export function rowsFrom(figures: unknown, fields: readonly FieldSpec[], moduleName: string): Result[] {
  const o = (figures && typeof figures === 'object' ? figures : {}) as Record<string, unknown>;
  return fields.map((f) => {
    const r: Result = { id: f.id, label: f.label, unit: f.unit };
    const value = num(o, f.value);
    const median = num(o, f.median);
    const p99 = num(o, f.p99);
    const samples = num(o, f.samples);
    const baseline = num(o, f.baseline);
    if (value !== undefined) r.value = value;
    if (median !== undefined) r.median = median;
    if (p99 !== undefined) r.p99 = p99;
    if (samples !== undefined) r.samples = samples;
    if (baseline !== undefined) r.baseline = baseline;
    if (f.target) r.target = f.target;
    const misses = num(o, f.missCount?.key);
    if (f.missCount && misses !== undefined) r.target = { text: f.missCount.text, met: misses === 0 };
    if (value === undefined && median === undefined && p99 === undefined) {
      r.note = `${moduleName} returned no ${[f.value, f.median, f.p99].filter(Boolean).join('/')}`;
    }
    return r;
  });
}

function isSuite(v: unknown): v is Suite {
  return !!v && typeof v === 'object' && typeof (v as Suite).run === 'function' && typeof (v as Suite).name === 'string';
}

/**
 * Imports `bench/<file>` if it exists. The specifier is computed so that a module not written yet
 * does not break type checking of the harness.
 */
async function importOptional(file: string): Promise<{ ok: true; mod: Record<string, unknown> } | { ok: false; reason: string }> {
  const url = new URL(`../${file}`, import.meta.url).href;
  try {
    return { ok: true, mod: (await import(url)) as Record<string, unknown> };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message?.includes(file)) return { ok: false, reason: `bench/${file} does not exist yet` };
    return { ok: false, reason: `bench/${file} failed to load: ${e.message ?? String(err)}` };
  }
}

type Adapter = (fn: (opts: Record<string, unknown>) => Promise<unknown>, ctx: SuiteContext) => Promise<Result[]>;

function external(info: SuiteInfo, file: string, fnName: string, adapt: Adapter): SuiteEntry {
  return {
    ...info,
    async load(): Promise<Loaded> {
      const loaded = await importOptional(file);
      if (!loaded.ok) return loaded;
      const { mod } = loaded;
      if (isSuite(mod.suite)) return { ok: true, suite: { ...info, ...mod.suite, name: info.name } };
      const fn = mod[fnName];
      if (typeof fn !== 'function') return { ok: false, reason: `bench/${file} exports neither \`suite\` nor \`${fnName}\`` };
      return { ok: true, suite: { ...info, run: (ctx) => adapt(fn as (opts: Record<string, unknown>) => Promise<unknown>, ctx) } };
    },
  };
}

function needKc(ctx: SuiteContext) {
  if (!ctx.kc) throw new Error('this suite needs the local control plane, but the harness has no kubeconfig for it');
  return ctx.kc;
}

// ---------------------------------------------------------------------------------------------

const AGENT_FIELDS: FieldSpec[] = [
  { id: 'first-publish', label: 'Discovery + publish, agent start → 256 MdevDevices', unit: 'ms', value: 'firstPublishMs' },
  { id: 'first-publish-floor', label: 'Floor: the same 512 server-side applies (spec + status × 256) by a bare client, same run, agent stopped', unit: 'ms', value: 'floorPublishMs' },
  { id: 'first-publish-ratio', label: 'Agent first publish ÷ its floor', unit: '×', value: 'firstPublishOverFloor', target: { of: 'value', max: 1.2, text: '≤ 1.2 × floor' } },
  { id: 'steady-pass', label: 'Discovery pass with nothing changed (median of 5)', unit: 'ms', value: 'steadyPassMs' },
  { id: 'steady-writes', label: 'MdevDevice writes per agent at steady state', unit: 'writes/min', value: 'deviceWritesPerMinute', target: { of: 'value', max: 0, text: '= 0 /min' } },
  { id: 'probe-rtt', label: 'Probe round trip, MdevProbe created → verdict seen by a watcher', unit: 'ms', median: 'probeRoundTripMedianMs', p99: 'probeRoundTripP99Ms', samples: 'probes' },
  { id: 'probe-flood', label: '1,000 MdevProbes created at once → every one answered', unit: 's', value: 'floodSeconds' },
  { id: 'probe-flood-heap', label: 'Heap growth during that flood (agent and creator in one process)', unit: 'MiB', value: 'floodHeapGrowthMiB' },
  { id: 'probe-flood-backlog', label: 'Peak probe backlog of the agent during that flood', unit: 'probes', value: 'floodPeakBacklog' },
];

const CONTROLLER_SIZES = [100, 1000];

/** Rows of one fleet size; the latency targets are computed from the floors measured in the same run. */
function controllerFields(nodes: number, figures: Record<string, unknown>): FieldSpec[] {
  const at = `@${nodes}`;
  const size = `${nodes.toLocaleString('en-US')} nodes`;
  const big = nodes === 1000;
  const n = (k: string): number => (typeof figures[k] === 'number' ? (figures[k] as number) : Number.NaN);
  const ms = (v: number): string => `${v.toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`;
  const warmTarget: Target = { of: 'p99', max: n('warmTargetMs'), text: `≤ null p99 + 5 ms (${ms(n('warmTargetMs'))})` };
  const coldTarget: Target = { of: 'p99', max: n('coldTargetMs'), text: `≤ null p99 + probe RTT p99 + 10 ms (${ms(n('coldTargetMs'))})` };
  return [
    { id: `probes${at}`, label: `Probes per decision — ${size}`, unit: 'probes', median: 'probesMedian', p99: 'probesP99', baseline: 'exhaustiveProbesMedian', samples: 'decisions', missCount: { key: 'decisionsOverProbeBudget', text: '≤ classes + 1, every decision' } },
    { id: `classes${at}`, label: `Distinct classes per decision — ${size}`, unit: 'classes', median: 'classesMedian' },
    { id: `null${at}`, label: `Floor: null controller created → Planned (same client stack, cluster and fleet) — ${size}`, unit: 'ms', median: 'nullMedianMs', p99: 'nullP99Ms', samples: 'nullSamples' },
    { id: `probe-rtt${at}`, label: `Floor: one probe round trip (created → verdict seen) — ${size}`, unit: 'ms', median: 'probeRttMedianMs', p99: 'probeRttP99Ms', samples: 'probeRttSamples' },
    { id: `decision-cold${at}`, label: `Decision latency created → Planned, cold — ${size}`, unit: 'ms', median: 'coldMedianMs', p99: 'coldP99Ms', samples: 'coldSamples', ...(big ? { target: coldTarget } : {}) },
    { id: `decision-warm${at}`, label: `Decision latency created → Planned, warm — ${size}`, unit: 'ms', median: 'warmMedianMs', p99: 'warmP99Ms', samples: 'warmSamples', ...(big ? { target: warmTarget } : {}) },
    { id: `decision-millis-warm${at}`, label: `Controller's own decision time (status.decisionMillis), warm — ${size}`, unit: 'ms', median: 'warmDecisionMillisMedian' },
    { id: `null-concurrent${at}`, label: `Floor: null controller, 100 dry runs created at once, total — ${size}`, unit: 'ms', value: 'nullConcurrent100Ms' },
    { id: `concurrent${at}`, label: `100 concurrent dry-run decisions, total — ${size}`, unit: 'ms', value: 'concurrent100Ms', ...(big ? { target: { of: 'value', max: 500, text: '≤ 500 ms' } as Target } : {}) },
    { id: `rss${at}`, label: `Controller RSS after sync — ${size}`, unit: 'MiB', value: 'rssMiB', ...(big ? { target: { of: 'value', max: 150, text: '≤ 150 MiB' } as Target } : {}) },
    { id: `rss-after${at}`, label: `Controller RSS after all the decisions above — ${size}`, unit: 'MiB', value: 'rssAfterDecisionsMiB' },
    { id: `writes-cold${at}`, label: `Controller's API writes per dry-run decision, cold (audit log) — ${size}`, unit: 'writes', value: 'coldWritesPerDecision' },
    { id: `reads-cold${at}`, label: `Controller's non-watch reads per dry-run decision, cold (audit log) — ${size}`, unit: 'reads', value: 'coldReadsPerDecision' },
    { id: `writes-warm${at}`, label: `Controller's API writes per dry-run decision, warm (audit log) — ${size}`, unit: 'writes', value: 'warmWritesPerDecision' },
    { id: `reads-warm${at}`, label: `Controller's non-watch reads per dry-run decision, warm (audit log) — ${size}`, unit: 'reads', value: 'warmReadsPerDecision' },
    { id: `lists-warm${at}`, label: `Controller's LIST calls during the warm decisions (audit log) — ${size}`, unit: 'lists', value: 'warmListCalls', target: { of: 'value', max: 0, text: '= 0 (none per decision)' } },
  ];
}

const ADMISSION_FIELDS: FieldSpec[] = [
  { id: 'floor-write', label: 'Floor: one API write round trip (MdevMigration create, same client stack)', unit: 'ms', median: 'floorWriteMedianMs', p99: 'floorWriteP99Ms', samples: 'iterations' },
  { id: 'floor-two-writes', label: 'Floor: two sequential API writes (create, then a status patch)', unit: 'ms', median: 'floorTwoWritesMedianMs', p99: 'floorTwoWritesP99Ms', samples: 'iterations' },
  { id: 'baseline', label: 'VMIM create round trip without the webhook (baseline)', unit: 'ms', median: 'baselineMedianMs', p99: 'baselineP99Ms', samples: 'iterations' },
  { id: 'mdev-warm', label: 'Admission latency added, mdev VMI, warm cache', unit: 'ms', median: 'mdevAddedMedianMs', p99: 'mdevAddedP99Ms', samples: 'iterations', target: { of: 'p99', max: 25, text: '≤ 25 ms' } },
  { id: 'plain-added', label: 'Admission latency added, plain VMI', unit: 'ms', median: 'plainAddedMedianMs', p99: 'plainAddedP99Ms', samples: 'iterations', target: { of: 'p99', max: 5, text: '≤ 5 ms added' } },
];

/** The catalog, in report order. */
export function suiteCatalog(): SuiteEntry[] {
  const placement = placementSuite();
  return [
    {
      name: placement.name, title: placement.title, needsCluster: false, ...(placement.about ? { about: placement.about } : {}),
      planned: ['probes per decision vs the exhaustive baseline; decision time cold/warm median and p99 at 100, 1,000, 5,000 and 10,000 nodes (target at 10,000: p99 ≤ 25 ms cold and warm)'],
      load: async () => ({ ok: true, suite: placement }),
    },
    { ...cachesSuite, load: async () => ({ ok: true, suite: cachesSuite }) },
    external(
      {
        name: 'agent', title: 'Node agent (local control plane)', needsCluster: true,
        about: 'The real agent code on one simulated node (fake sysfs, simulated NVIDIA driver) against the local kube-apiserver. The agent starts once the API server serves its lists from the watch cache (as in a running cluster; on CRDs installed a moment ago the first list of each resource waits out a 429 Retry-After of 1 s); its floor runs with the agent stopped. Where the time goes: docs/bench/agent-publish.md.',
        planned: ['discovery + publish time for 256 devices against its floor, the same applies by a bare client (target ≤ 1.2×)', 'MdevDevice writes per minute at steady state (target: 0/min)', 'probe round trip median and p99'],
      },
      'agent.ts', 'benchAgent',
      async (fn, ctx) => rowsFrom(await fn({ kc: needKc(ctx) }), AGENT_FIELDS, 'bench/agent.ts'),
    ),
    external(
      {
        name: 'controller', title: 'Controller (local control plane)', needsCluster: true,
        about: 'The controller started as the chart starts it (bench/chart-controller.ts: the compiled `node dist/cli/main.js`, the rendered Deployment\'s args and environment, inside a memory cgroup with the container\'s memory limit, from which V8 sizes its heap; only kubeconfig, namespace, ports and the webhook are replaced) against the local kube-apiserver with a simulated fleet (stand-in agents answering probes with the real probe responder); the exhaustive baseline runs in the same harness. Latency is MdevMigration created → Planned seen through a watch, dry runs one at a time. Floors, measured in the same run on the same cluster and fleet: a null controller (bench/null-controller.ts: the same informer and request code, writes Planned on sight; 100 decisions before the controller\'s first life and 100 after its last, while the controller is stopped) and one probe round trip against the fleet\'s responders. Cold: the first decision for each of the 20 source strings, in 5 controller lives (each new controller starts with every MdevProbe deleted). Warm: 200 decisions after that, every verdict cached. Then 100 created at once, and the same 100 at once answered by the null controller (its floor, after the controller\'s last life). Request counts: kube-apiserver\'s audit log, by the controller\'s User-Agent, Leases and the KubeVirt CR poll (a LIST every 30 s) excluded. Where the time goes: docs/bench/controller-latency.md.',
        planned: [
          'probes per decision vs the exhaustive baseline at 100 and 1,000 nodes × 8 devices (target: ≤ distinct classes + 1)',
          'decision latency created → Planned next to its floors (targets at 1,000 nodes: warm p99 ≤ null p99 + 5 ms; cold p99 ≤ null p99 + probe round trip p99 + 10 ms)',
          '100 concurrent dry-run decisions (target at 1,000 nodes: ≤ 500 ms)', 'controller RSS after sync (target at 1,000 nodes: ≤ 150 MiB)',
          "the controller's API writes and reads per decision (audit log)",
        ],
      },
      'controller.ts', 'benchController',
      async (fn, ctx) => {
        const rows: Result[] = [];
        for (const nodes of CONTROLLER_SIZES) {
          ctx.log(`controller: ${nodes} nodes`);
          const figures = (await fn({ kc: needKc(ctx), kubeconfigPath: ctx.kubeconfigPath, auditLog: ctx.auditLog, nodes, log: ctx.log })) as Record<string, unknown>;
          rows.push(...rowsFrom(figures, controllerFields(nodes, figures), 'bench/controller.ts'));
        }
        return rows;
      },
    ),
    external(
      {
        name: 'admission', title: 'Admission webhook (through the API server)', needsCluster: true,
        about: 'VMIM creations through the local kube-apiserver calling the webhook over HTTPS; "added" is the round trip minus the same round trip in a namespace the webhook does not match, paired per iteration. Floors, measured interleaved in the same run by the same client stack: one API write, and two sequential writes (an mdev admission creates its record, then claims under the record\'s uid while the API server waits). Where the time goes: docs/bench/admission-latency.md.',
        planned: ['admission latency median and p99: mdev VMI with a warm cache (target p99 ≤ 25 ms), plain VMI (target ≤ 5 ms added)', 'floors: one API write round trip, two sequential writes'],
      },
      'admission.ts', 'benchAdmission',
      async (fn, ctx) => rowsFrom(await fn({ kc: needKc(ctx) }), ADMISSION_FIELDS, 'bench/admission.ts'),
    ),
    { ...nvmlSuite, load: async () => ({ ok: true, suite: nvmlSuite }) },
    { ...soakSuite(), load: async () => ({ ok: true, suite: soakSuite() }) },
  ];
}
