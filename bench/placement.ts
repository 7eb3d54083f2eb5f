// Placement suite: the pure engine (src/placement) in process, on synthetic fleets of 100, 1,000
// and 5,000 nodes × 8 devices carrying 20 distinct version strings. Probes are answered in process
// by the simulated NVIDIA driver policy (dev/fakes/policies/nvidia-branch.ts), so the figures are
// the engine's own cost: no API server, no agent round trip. The exhaustive baseline (one probe per
// free candidate device) runs through the same engine and the same driver policy.
import { applyProbeAnswers, decide, exhaustiveProbeCount, filterCandidates, indexFleet, place, resolveSource, targetId, VerdictCache } from '../src/placement/index.ts';
import type { Device, Fleet, NodeInfo, PlaceInput, ProbeAnswer, ProbeRequest, Prober, Request, SourceVm, Taint } from '../src/placement/index.ts';
import { nvidiaBranch } from '../dev/fakes/policies/nvidia-branch.ts';
import { isRefusal, type NvidiaBranchConfig } from '../dev/fakes/policies/policy.ts';
import { collectGarbage, heapUsedMiB, measure, summarize, type Measurement } from './stats.ts';
import type { Result, Suite, SuiteContext } from './report/types.ts';
import { seededRandom } from '../dev/sim/kubevirt/device-plugin.ts';

// ---------------------------------------------------------------------------------------------
// Deterministic synthetic fleet
// ---------------------------------------------------------------------------------------------

/** mulberry32: small, fast, and the same sequence on every machine for a given seed. */
export const prng = seededRandom;

interface Profile {
  typeId: string;
  policy: NvidiaBranchConfig;
  version: string;
}

/**
 * 2 boards × 5 host drivers × 2 vGPU versions = 20 distinct strings. Each board has its own vGPU
 * type, so a VMI's candidates span the 10 classes of its board; within them the driver accepts by
 * branch, driver age and vGPU range — a realistic mix of accepting and refusing classes.
 */
export function profiles(): Profile[] {
  const boards = [
    { board: 'H100-PCIE-80GB', typeId: 'nvidia-1012' },
    { board: 'L40S-48GB', typeId: 'nvidia-1155' },
  ];
  const drivers = [
    { hostDriver: '535.161.07', vgpu: [0x0f, 0x10], range: [0x0d, 0x10] as [number, number] },
    { hostDriver: '535.183.01', vgpu: [0x0f, 0x10], range: [0x0d, 0x10] as [number, number] },
    { hostDriver: '550.54.15', vgpu: [0x11, 0x12], range: [0x10, 0x12] as [number, number] },
    { hostDriver: '550.90.07', vgpu: [0x11, 0x12], range: [0x10, 0x13] as [number, number] },
    { hostDriver: '550.127.05', vgpu: [0x11, 0x12], range: [0x10, 0x13] as [number, number] },
  ];
  const out: Profile[] = [];
  for (const { board, typeId } of boards) {
    for (const d of drivers) {
      for (const vgpuVersion of d.vgpu) {
        const policy: NvidiaBranchConfig = { name: 'nvidia-branch', board, hostDriver: d.hostDriver, vgpuVersion, vgpuRange: d.range };
        const version = nvidiaBranch.version({ address: '0000:41:00.0', policy }, typeId, []);
        if (typeof version !== 'string') throw new Error(`simulated NVIDIA policy refused profile ${board}/${d.hostDriver}: ${version.reason}`);
        out.push({ typeId, policy, version });
      }
    }
  }
  return out;
}

export interface FleetSpec {
  nodes: number;
  devicesPerNode: number;
  seed: number;
}

export interface SyntheticFleet {
  nodes: NodeInfo[];
  devices: Device[];
  /** Running VMIs, each using one or two devices on its node. */
  vms: SourceVm[];
  /** Version string → the simulated driver configuration that publishes it. */
  profileByVersion: Map<string, Profile>;
  distinctVersions: number;
}

const NO_SCHEDULE: Taint = { key: 'maintenance.example.com/drain', value: 'true', effect: 'NoSchedule' };

/** Same spec, same fleet: node states, profiles and device use come from the seeded PRNG. */
export function syntheticFleet(spec: FleetSpec): SyntheticFleet {
  const rand = prng(spec.seed);
  const hex = (digits: number) => Array.from({ length: digits }, () => Math.floor(rand() * 16).toString(16)).join('');
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
  const all = profiles();
  const nodes: NodeInfo[] = [];
  const devices: Device[] = [];
  const vms: SourceVm[] = [];
  for (let n = 0; n < spec.nodes; n++) {
    const name = `node-${String(n).padStart(5, '0')}`;
    const roll = rand();
    // ~2% cordoned, ~1% stale agent, ~2% tainted: the filter has real rejections to explain.
    nodes.push({
      name,
      labels: { 'kubernetes.io/hostname': name },
      taints: roll >= 0.03 && roll < 0.05 ? [NO_SCHEDULE] : [],
      unschedulable: roll < 0.02,
      agentFresh: !(roll >= 0.02 && roll < 0.03),
    });
    const profile = all[Math.floor(rand() * all.length)] as Profile;
    let pendingVm: SourceVm | undefined;
    for (let d = 0; d < spec.devicesPerNode; d++) {
      const device: Device = {
        name: `${name}.${uuid()}`,
        nodeName: name,
        typeId: profile.typeId,
        pool: profile.typeId,
        parentAddress: `0000:${(0x41 + (d >> 2)).toString(16)}:00.${d & 3}`,
        version: profile.version,
        migratable: true,
      };
      // About half the devices are in use; one VMI in ten holds two devices of its node.
      if (pendingVm) {
        device.consumerUid = pendingVm.uid;
        pendingVm = undefined;
      } else if (rand() < 0.5) {
        const vm: SourceVm = { namespace: 'bench', name: `vm-${vms.length}`, uid: uuid(), nodeName: name, nodeSelector: {}, tolerations: [] };
        vms.push(vm);
        device.consumerUid = vm.uid;
        if (rand() < 0.1) pendingVm = vm;
      }
      devices.push(device);
    }
  }
  const profileByVersion = new Map(all.map((p) => [p.version, p] as const));
  return { nodes, devices, vms, profileByVersion, distinctVersions: new Set(devices.map((d) => d.version)).size };
}

// ---------------------------------------------------------------------------------------------
// Probing with the simulated driver, ours and exhaustive
// ---------------------------------------------------------------------------------------------

/** Stand-in for the agents: answers every target with the simulated NVIDIA driver's verdict. */
export function driverProber(fleet: SyntheticFleet): Prober {
  return async (probes) => probes.map((request) => answer(fleet, request));
}

function answer(fleet: SyntheticFleet, request: ProbeRequest): ProbeAnswer {
  return {
    request,
    results: request.targets.map((t) => {
      const profile = fleet.profileByVersion.get(t.version);
      if (!profile) return { target: targetId(t), accepted: false, reason: `ENODEV: no simulated driver publishes ${t.version}` };
      const verdict = nvidiaBranch.accept({ parent: { address: t.parentAddress, policy: profile.policy }, typeId: t.typeId, creationParams: [] }, request.sourceVersion);
      return isRefusal(verdict) ? { target: targetId(t), accepted: false, reason: `${verdict.errno}: ${verdict.reason}` } : { target: targetId(t), accepted: true };
    }),
  };
}

/** What userspace does without equivalence classes: probe every free candidate target, then decide. */
export function exhaustiveDecision(input: PlaceInput, fleet: SyntheticFleet): { chosen: string | undefined; probes: number } {
  const resolved = resolveSource(input.vm, fleet.devices);
  if (!resolved.ok) return { chosen: undefined, probes: 0 };
  const { source } = resolved;
  const filter = filterCandidates(source, input.fleet, input.request);
  const answers: ProbeAnswer[] = [];
  for (const node of filter.candidates) {
    for (const pool of node.pools) {
      for (const sourceVersion of source.versionsByType.get(pool.typeId) ?? []) {
        for (const target of pool.targets) answers.push(answer(fleet, { nodeName: node.name, typeId: pool.typeId, sourceVersion, targets: [target] }));
      }
    }
  }
  const decision = decide(source, filter, applyProbeAnswers(new Map(), answers));
  return { chosen: decision.chosen?.node, probes: answers.length };
}

// ---------------------------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------------------------

export interface PlacementOptions {
  sizes: number[];
  devicesPerNode: number;
  seed: number;
  /** Measured decisions per size for ours (cold and warm) and for the exhaustive baseline. */
  iterations: (nodes: number) => { ours: number; exhaustive: number };
  log?: (line: string) => void;
}

export const DEFAULT_PLACEMENT_OPTIONS: PlacementOptions = {
  sizes: [100, 1000, 5000, 10000],
  devicesPerNode: 8,
  seed: 20200414,
  iterations: (nodes) => (nodes <= 1000 ? { ours: 300, exhaustive: 100 } : nodes <= 5000 ? { ours: 100, exhaustive: 30 } : { ours: 100, exhaustive: 10 }),
};

export interface SizeFigures {
  nodes: number;
  devices: number;
  distinctVersions: number;
  indexMs: number;
  heapMiB: number;
  cold: Measurement;
  warm: Measurement;
  exhaustive: Measurement;
  /** Decisions that are the first on a freshly built index (each builds its node table, candidates.ts). */
  fresh: Measurement;
  probesCold: number[];
  probesWarm: number[];
  exhaustiveProbes: number[];
  classes: number[];
  /** Decisions whose probes exceeded classes + 1 (cold and warm together). */
  overBudget: number;
  /** Exhaustive decisions that chose the same node as ours. */
  sameChoice: number;
}

const REQUEST: Request = { migrationUid: 'bench-migration', allowCreateTarget: false };

interface Bench {
  synthetic: SyntheticFleet;
  prober: Prober;
  input(vm: SourceVm): PlaceInput;
  /** `n` source VMIs drawn with the seeded PRNG. */
  draw(n: number): SourceVm[];
}

const WARMUP = 10;

/**
 * Ours over `vms`; `cacheFor` gives each decision its cache (fresh = cold, shared = warm). Only
 * `place()` is timed: the bookkeeping after it (the exhaustive probe count walks every candidate
 * target) is the benchmark's, not the decision's.
 */
async function measureOurs(b: Bench, iterations: number, cacheFor: () => VerdictCache) {
  const vms = b.draw(iterations + WARMUP);
  const probes: number[] = [];
  const classes: number[] = [];
  const exhaustiveProbes: number[] = [];
  const samples: number[] = [];
  let overBudget = 0;
  for (let i = 0; i < vms.length; i++) {
    const input = b.input(vms[i] as SourceVm);
    const cache = cacheFor();
    const start = performance.now();
    const outcome = await place(input, cache, b.prober);
    const ms = performance.now() - start;
    if (i < WARMUP) continue;
    samples.push(ms);
    if (!outcome.ok) continue;
    probes.push(outcome.probes);
    classes.push(outcome.plan.classes.length);
    exhaustiveProbes.push(exhaustiveProbeCount(outcome.source, outcome.filter));
    if (outcome.probes > outcome.plan.classes.length + 1) overBudget++;
  }
  const times: Measurement = { ...summarize(samples), samples };
  return { times, probes, classes, exhaustiveProbes, overBudget };
}

/** A cache that has already seen every source version of the fleet: the controller at steady state. */
async function warmedCache(b: Bench): Promise<VerdictCache> {
  const cache = new VerdictCache();
  const versionOf = new Map(b.synthetic.devices.filter((d) => d.consumerUid).map((d) => [d.consumerUid as string, d.version] as const));
  const seen = new Set<string | undefined>();
  for (const vm of b.synthetic.vms) {
    if (seen.has(versionOf.get(vm.uid))) continue;
    seen.add(versionOf.get(vm.uid));
    await place(b.input(vm), cache, b.prober);
  }
  return cache;
}

/** The exhaustive search, timed; then (untimed) whether it chose what ours chose — otherwise the probe savings would mean nothing. */
async function measureExhaustive(b: Bench, iterations: number) {
  const vms = b.draw(iterations + 3);
  const times = await measure((i) => exhaustiveDecision(b.input(vms[i] as SourceVm), b.synthetic), { warmup: 3, iterations });
  let sameChoice = 0;
  for (const vm of vms.slice(3)) {
    const outcome = await place(b.input(vm), new VerdictCache(), b.prober);
    if (outcome.ok && outcome.decision.chosen?.node === exhaustiveDecision(b.input(vm), b.synthetic).chosen) sameChoice++;
  }
  return { times, sameChoice };
}

const FRESH_DECISIONS = 5;

/** The first decision on each of `n` freshly built indexes (the index build itself is not timed). */
async function measureFresh(b: Bench, n: number): Promise<Measurement> {
  const vms = b.draw(n);
  const samples: number[] = [];
  for (const vm of vms) {
    const index = indexFleet(b.synthetic.nodes, b.synthetic.devices);
    const start = performance.now();
    await place({ vm, fleet: index, request: REQUEST }, new VerdictCache(), b.prober);
    samples.push(performance.now() - start);
  }
  return { ...summarize(samples), samples };
}

export async function benchPlacementSize(nodes: number, opts: PlacementOptions): Promise<SizeFigures> {
  collectGarbage();
  const heapBefore = heapUsedMiB();
  const synthetic = syntheticFleet({ nodes, devicesPerNode: opts.devicesPerNode, seed: opts.seed + nodes });
  const t0 = performance.now();
  const index: Fleet = indexFleet(synthetic.nodes, synthetic.devices);
  const indexMs = performance.now() - t0;
  collectGarbage();
  const heapMiB = heapUsedMiB() - heapBefore;

  const pick = prng(opts.seed ^ nodes);
  const b: Bench = {
    synthetic,
    prober: driverProber(synthetic),
    input: (vm) => ({ vm, fleet: index, request: REQUEST }),
    draw: (n) => Array.from({ length: n }, () => synthetic.vms[Math.floor(pick() * synthetic.vms.length)] as SourceVm),
  };
  const { ours, exhaustive } = opts.iterations(nodes);
  // A full collection before each phase, so neither inherits the other's garbage.
  collectGarbage();
  const cold = await measureOurs(b, ours, () => new VerdictCache());
  const shared = await warmedCache(b);
  collectGarbage();
  const warm = await measureOurs(b, ours, () => shared);
  const ex = await measureExhaustive(b, exhaustive);
  const fresh = await measureFresh(b, FRESH_DECISIONS);
  return {
    nodes,
    devices: synthetic.devices.length,
    distinctVersions: synthetic.distinctVersions,
    indexMs,
    heapMiB,
    cold: cold.times,
    warm: warm.times,
    exhaustive: ex.times,
    fresh,
    probesCold: cold.probes,
    probesWarm: warm.probes,
    exhaustiveProbes: cold.exhaustiveProbes,
    classes: cold.classes,
    overBudget: cold.overBudget + warm.overBudget,
    sameChoice: ex.sameChoice,
  };
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The figures as report rows; targets of issue #5 apply at 1,000 nodes, those of issue 16 at 10,000. */
export function placementResults(f: SizeFigures): Result[] {
  const at = `@${f.nodes}`;
  const size = `${f.nodes.toLocaleString('en-US')} nodes`;
  const pc = summarize(f.probesCold);
  const pw = summarize(f.probesWarm);
  const ex = summarize(f.exhaustiveProbes);
  const cls = summarize(f.classes);
  const decisions = f.probesCold.length + f.probesWarm.length;
  const budget = { text: '≤ classes + 1, every decision', met: f.overBudget === 0 };
  const classNote = `classes per decision: median ${cls.median}, max ${cls.max}; ${decisions - f.overBudget}/${decisions} decisions within budget`;
  const ms = (m: Measurement) => ({ median: round(m.median, 3), p99: round(m.p99, 3), samples: m.n });
  return [
    { id: `probes-cold${at}`, label: `Probes per decision, cold cache — ${size}`, unit: 'probes', median: pc.median, p99: pc.p99, samples: pc.n, baseline: ex.median, target: budget, note: classNote },
    { id: `probes-warm${at}`, label: `Probes per decision, warm cache — ${size}`, unit: 'probes', median: pw.median, p99: pw.p99, samples: pw.n, baseline: ex.median, target: budget, note: 'warm decisions probe only to confirm the chosen targets' },
    {
      id: `decision-cold${at}`, label: `Decision time, cold cache — ${size}`, unit: 'ms', ...ms(f.cold), baseline: round(f.exhaustive.median, 3),
      ...(f.nodes === 1000 ? { target: { of: 'p99' as const, max: 150, text: '≤ 150 ms' } } : {}),
      ...(f.nodes === 10000 ? { target: { of: 'p99' as const, max: 25, text: '≤ 25 ms' } } : {}),
    },
    {
      id: `decision-warm${at}`, label: `Decision time, warm cache — ${size}`, unit: 'ms', ...ms(f.warm),
      ...(f.nodes === 1000 || f.nodes === 10000 ? { target: { of: 'p99' as const, max: 25, text: '≤ 25 ms' } } : {}),
    },
    {
      id: `decision-exhaustive${at}`, label: `Decision time, exhaustive search — ${size}`, unit: 'ms', ...ms(f.exhaustive),
      note: `chose the same node as ours in ${f.sameChoice}/${f.exhaustive.n} decisions`,
    },
    {
      id: `decision-fresh${at}`, label: `Decision time, first on a fresh index (builds its node table), cold cache — ${size}`, unit: 'ms', ...ms(f.fresh),
      note: 'what the first decision per pool pays after the controller rebuilds its snapshot (a device, claim or capacity changed); the cold and warm rows are the decisions after it',
    },
    { id: `index${at}`, label: `Fleet index build (indexFleet) — ${size}`, unit: 'ms', value: round(f.indexMs, 2) },
    { id: `heap${at}`, label: `Heap after building fleet + index — ${size}`, unit: 'MiB', value: round(f.heapMiB, 1), note: `${f.devices.toLocaleString('en-US')} devices, ${f.distinctVersions} distinct version strings; retained heap after a full GC` },
  ];
}

export function placementSuite(opts: PlacementOptions = DEFAULT_PLACEMENT_OPTIONS): Suite {
  return {
    name: 'placement',
    title: 'Placement engine (in process)',
    needsCluster: false,
    about: [
      'The pure engine of `src/placement` in one process: resolve the source, filter candidates, group them into',
      'equivalence classes, plan probes, decide, and confirm the chosen targets (`place()`). Probes are answered in',
      'process by the simulated NVIDIA driver policy, so these are the engine\'s own costs: no API server, no agent',
      'round trip (see the agent and controller suites for those). Fleets are generated from a fixed seed: N nodes',
      '× 8 devices, 2 boards × 5 host drivers × 2 vGPU versions = 20 distinct version strings, about half the devices',
      'in use, ~2% of nodes cordoned, ~2% tainted, ~1% with a stale agent. *Cold*: an empty verdict cache per',
      'decision. *Warm*: a cache that has seen every source version, so a decision probes only to confirm its chosen',
      'targets. *Exhaustive*: one probe per free candidate device (`exhaustiveProbeCount`), decided by the same',
      'engine over the same driver policy — it must choose the same node, and the notes count how often it did. The',
      '1,000-node latency targets are the controller\'s (issue #5, created → Planned); the engine alone must sit well',
      'inside them; at 10,000 nodes its p99 must stay within 25 ms cold and warm (issue 16). Decision times cover the `place()` call alone (bookkeeping such as the exhaustive probe count runs',
      'outside the timer), and a full garbage collection precedes the cold and the warm phase. The index build is one',
      'first, not yet JIT-compiled call. The first decision on a fresh index builds its node table (ADR 0020) and has its',
      'own row. Where the time goes: docs/bench/placement-profile.md.',
    ].join('\n'),
    async run(ctx: SuiteContext): Promise<Result[]> {
      const results: Result[] = [];
      for (const nodes of opts.sizes) {
        ctx.log(`placement: ${nodes} nodes × ${opts.devicesPerNode} devices`);
        results.push(...placementResults(await benchPlacementSize(nodes, opts)));
      }
      return results;
    },
  };
}
