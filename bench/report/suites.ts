// The suites `npm run bench` knows, and how each is loaded. A suite module may export
// `suite: Suite` (types.ts) and is then used as is; the agent, controller and admission modules may
// instead export a function returning plain figures, which an adapter here turns into report rows.
// A module that is missing, or exports neither, makes its suite "not run" with the reason — the
// harness never fills in a number a module did not return.
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
  { id: 'steady-pass', label: 'Discovery pass with nothing changed (median of 5)', unit: 'ms', value: 'steadyPassMs' },
  { id: 'steady-writes', label: 'MdevDevice writes per agent at steady state', unit: 'writes/min', value: 'deviceWritesPerMinute', target: { of: 'value', max: 0, text: '= 0 /min' } },
  { id: 'probe-rtt', label: 'Probe round trip, MdevProbe created → verdict seen by a watcher', unit: 'ms', median: 'probeRoundTripMedianMs', p99: 'probeRoundTripP99Ms', samples: 'probes' },
];

const CONTROLLER_SIZES = [100, 1000];

function controllerFields(nodes: number): FieldSpec[] {
  const at = `@${nodes}`;
  const size = `${nodes.toLocaleString('en-US')} nodes`;
  const big = nodes === 1000;
  return [
    { id: `probes${at}`, label: `Probes per decision — ${size}`, unit: 'probes', median: 'probesMedian', p99: 'probesP99', baseline: 'exhaustiveProbesMedian', samples: 'decisions', missCount: { key: 'decisionsOverProbeBudget', text: '≤ classes + 1, every decision' } },
    { id: `classes${at}`, label: `Distinct classes per decision — ${size}`, unit: 'classes', median: 'classesMedian' },
    { id: `decision-cold${at}`, label: `Decision latency created → Planned, cold — ${size}`, unit: 'ms', median: 'coldMedianMs', p99: 'coldP99Ms', samples: 'coldSamples', ...(big ? { target: { of: 'p99', max: 150, text: '≤ 150 ms' } as Target } : {}) },
    { id: `decision-warm${at}`, label: `Decision latency created → Planned, warm — ${size}`, unit: 'ms', median: 'warmMedianMs', p99: 'warmP99Ms', samples: 'warmSamples', ...(big ? { target: { of: 'p99', max: 25, text: '≤ 25 ms' } as Target } : {}) },
    { id: `decision-millis-warm${at}`, label: `Controller's own decision time (status.decisionMillis), warm — ${size}`, unit: 'ms', median: 'warmDecisionMillisMedian' },
    { id: `concurrent${at}`, label: `100 concurrent dry-run decisions, total — ${size}`, unit: 'ms', value: 'concurrent100Ms', target: { of: 'value', max: 2000, text: '≤ 2,000 ms' } },
    { id: `rss${at}`, label: `Controller RSS after sync — ${size}`, unit: 'MiB', value: 'rssMiB', target: { of: 'value', max: 200, text: '≤ 200 MiB' } },
    { id: `rss-after${at}`, label: `Controller RSS after all the decisions above — ${size}`, unit: 'MiB', value: 'rssAfterDecisionsMiB' },
  ];
}

const ADMISSION_FIELDS: FieldSpec[] = [
  { id: 'baseline', label: 'VMIM create round trip without the webhook (baseline)', unit: 'ms', median: 'baselineMedianMs', p99: 'baselineP99Ms', samples: 'iterations' },
  { id: 'mdev-warm', label: 'Admission latency added, mdev VMI, warm cache', unit: 'ms', median: 'mdevAddedMedianMs', p99: 'mdevAddedP99Ms', samples: 'iterations', target: { of: 'p99', max: 50, text: '≤ 50 ms' } },
  { id: 'plain-added', label: 'Admission latency added, plain VMI', unit: 'ms', median: 'plainAddedMedianMs', p99: 'plainAddedP99Ms', samples: 'iterations', target: { of: 'p99', max: 5, text: '≤ 5 ms added' } },
];

/** The catalog, in report order. */
export function suiteCatalog(): SuiteEntry[] {
  const placement = placementSuite();
  return [
    {
      name: placement.name, title: placement.title, needsCluster: false, ...(placement.about ? { about: placement.about } : {}),
      planned: ['probes per decision vs the exhaustive baseline; decision time cold/warm median and p99 at 100, 1,000, 5,000 nodes'],
      load: async () => ({ ok: true, suite: placement }),
    },
    external(
      {
        name: 'agent', title: 'Node agent (local control plane)', needsCluster: true,
        about: 'The real agent code on one simulated node (fake sysfs, simulated NVIDIA driver) against the local kube-apiserver.',
        planned: ['discovery + publish time for 256 devices', 'MdevDevice writes per minute at steady state (target: 0/min)', 'probe round trip median and p99'],
      },
      'agent.ts', 'benchAgent',
      async (fn, ctx) => rowsFrom(await fn({ kc: needKc(ctx) }), AGENT_FIELDS, 'bench/agent.ts'),
    ),
    external(
      {
        name: 'controller', title: 'Controller (local control plane)', needsCluster: true,
        about: 'The controller (its own process) against the local kube-apiserver with a simulated fleet (stand-in agents answering probes with the real probe responder); the exhaustive baseline runs in the same harness. Latency is MdevMigration created → Planned seen through a watch, dry runs one at a time. Cold: the first decision for each of the 20 source strings, in 5 controller lives (each new controller starts with every MdevProbe deleted). Warm: 200 decisions after that, every verdict cached. Then 100 created at once. Where the time goes: docs/bench/controller-latency.md.',
        planned: [
          'probes per decision vs the exhaustive baseline at 100 and 1,000 nodes × 8 devices (target: ≤ distinct classes + 1)',
          'decision latency created → Planned, cold and warm (target at 1,000 nodes: warm p99 ≤ 25 ms, cold p99 ≤ 150 ms)',
          '100 concurrent dry-run decisions (target: ≤ 2 s)', 'controller RSS after sync (target: ≤ 200 MiB)',
        ],
      },
      'controller.ts', 'benchController',
      async (fn, ctx) => {
        const rows: Result[] = [];
        for (const nodes of CONTROLLER_SIZES) {
          ctx.log(`controller: ${nodes} nodes`);
          rows.push(...rowsFrom(await fn({ kc: needKc(ctx), kubeconfigPath: ctx.kubeconfigPath, nodes, log: ctx.log }), controllerFields(nodes), 'bench/controller.ts'));
        }
        return rows;
      },
    ),
    external(
      {
        name: 'admission', title: 'Admission webhook (through the API server)', needsCluster: true,
        about: 'VMIM creations through the local kube-apiserver calling the webhook over HTTPS; "added" is the round trip minus the same round trip in a namespace the webhook does not match.',
        planned: ['admission latency median and p99: mdev VMI with a warm cache (target p99 ≤ 50 ms), plain VMI (target ≤ 5 ms added)'],
      },
      'admission.ts', 'benchAdmission',
      async (fn, ctx) => rowsFrom(await fn({ kc: needKc(ctx) }), ADMISSION_FIELDS, 'bench/admission.ts'),
    ),
    { ...nvmlSuite, load: async () => ({ ok: true, suite: nvmlSuite }) },
    { ...soakSuite(), load: async () => ({ ok: true, suite: soakSuite() }) },
  ];
}
