// `npm run bench [-- --only placement,agent] [--kubeconfig PATH] [--keep] [--no-write]`
//
// Runs the benchmark suites (bench/report/suites.ts), prints a table, and merges the figures into
// BENCHMARKS.md by suite (suites not run keep their previous section) with the plot
// docs/bench/placement.svg. Suites that need Kubernetes get the local control plane `bench`
// (.localcluster/bench, stopped and purged at the end unless --keep) with the CRDs installed, or the
// cluster of --kubeconfig, which is never stopped.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT, VERSIONS, down, up } from '../dev/localcluster/index.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { installBenchCrds } from './cluster-crds.ts';
import { consoleTable } from './report/console.ts';
import { describeMachine, loadAverage } from './report/machine.ts';
import { renderBenchmarks } from './report/markdown.ts';
import { placementPlot } from './report/placement-plot.ts';
import { suiteCatalog, type SuiteEntry } from './report/suites.ts';
import { reproduceCommand, type Suite, type SuiteContext, type SuiteOutcome } from './report/types.ts';

const CLUSTER_NAME = 'bench';
const BENCHMARKS_MD = join(REPO_ROOT, 'BENCHMARKS.md');
const PLACEMENT_SVG = join(REPO_ROOT, 'docs', 'bench', 'placement.svg');

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

interface Options {
  only?: string[];
  kubeconfig?: string;
  keep: boolean;
  write: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      kubeconfig: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write('usage: npm run bench -- [--only placement,caches,agent,controller,admission,nvml,soak] [--kubeconfig PATH] [--keep] [--no-write]\n');
    process.exit(0);
  }
  return {
    only: values.only?.split(',').map((s) => s.trim()).filter(Boolean),
    kubeconfig: values.kubeconfig,
    keep: values.keep,
    write: !values['no-write'],
  };
}

function select(catalog: SuiteEntry[], only: string[] | undefined): SuiteEntry[] {
  if (!only) return catalog;
  const unknown = only.filter((n) => !catalog.some((s) => s.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown suite ${unknown.join(', ')}; choose from ${catalog.map((s) => s.name).join(', ')}\n`);
    process.exit(2);
  }
  return catalog.filter((s) => only.includes(s.name));
}

interface Cluster {
  kc: KubeConfig;
  kubeconfigPath: string;
  /** kube-apiserver's audit log (local control plane only). */
  auditLog?: string;
  kubernetes: string;
  startedHere: boolean;
}

/** The control plane for the suites that need one, with the operator's and the KubeVirt stand-in CRDs. */
async function prepareCluster(opts: Options): Promise<Cluster> {
  let kubeconfigPath = opts.kubeconfig;
  let startedHere = false;
  let auditLog: string | undefined;
  if (!kubeconfigPath) {
    log(`starting the local control plane .localcluster/${CLUSTER_NAME} (with an audit log, to count each component's requests)`);
    startedHere = true;
    const cluster = await up({ name: CLUSTER_NAME, log, audit: true });
    kubeconfigPath = cluster.kubeconfig;
    auditLog = cluster.auditLog;
  }
  // Suites may reuse integration-test fixtures (test/support/cluster.ts), which find the cluster here.
  process.env.MDEV_TEST_KUBECONFIG = kubeconfigPath;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  await installBenchCrds(kc, kubeconfigPath);
  const version = (await kubeRequest(kc, { method: 'GET', path: '/version' })) as { gitVersion?: string };
  return { kc, kubeconfigPath, kubernetes: version.gitVersion ?? 'unknown', startedHere, ...(auditLog ? { auditLog } : {}) };
}

async function runSuite(suite: Suite, ctx: SuiteContext, kubernetes: string): Promise<SuiteOutcome> {
  const command = reproduceCommand(suite.name);
  const start = performance.now();
  const load = loadAverage();
  log(`running ${suite.name} (load average ${load})`);
  try {
    const results = await suite.run(ctx);
    const seconds = Math.round((performance.now() - start) / 100) / 10;
    const date = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    return { suite: suite.name, title: suite.title, status: 'ran', results, command, date, machine: await describeMachine(kubernetes, load), seconds };
  } catch (err) {
    log(`${suite.name} failed: ${(err as Error).stack ?? String(err)}`);
    return { suite: suite.name, title: suite.title, status: 'not-run', reason: `failed: ${(err as Error).message ?? String(err)}`, command };
  }
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const catalog = suiteCatalog();
  const outcomes: SuiteOutcome[] = [];
  const runnable: Suite[] = [];
  for (const entry of select(catalog, opts.only)) {
    const loaded = await entry.load();
    if (loaded.ok) runnable.push(loaded.suite);
    else outcomes.push({ suite: entry.name, title: entry.title, status: 'not-run', reason: loaded.reason, command: reproduceCommand(entry.name) });
  }

  let cluster: Cluster | undefined;
  let clusterError = '';
  if (runnable.some((s) => s.needsCluster)) {
    try {
      cluster = await prepareCluster(opts);
    } catch (err) {
      clusterError = `the control plane could not be prepared: ${(err as Error).message ?? String(err)}`;
      log(clusterError);
    }
  }
  const stopCluster = async () => {
    if (cluster?.startedHere && !opts.keep) {
      log(`stopping .localcluster/${CLUSTER_NAME}`);
      await down({ name: CLUSTER_NAME, purge: true });
    } else if (cluster?.startedHere) {
      log(`kept the control plane: KUBECONFIG=${cluster.kubeconfigPath}`);
    }
  };
  // A signal handler cannot wait: stop the cluster, print why if that fails, then exit either way.
  process.once('SIGINT', () => void stopCluster().catch((err: unknown) => log(`stopping the control plane failed: ${String(err)}`)).finally(() => process.exit(130)));

  try {
    for (const suite of runnable) {
      if (suite.needsCluster && !cluster) {
        outcomes.push({ suite: suite.name, title: suite.title, status: 'not-run', reason: clusterError, command: reproduceCommand(suite.name) });
        continue;
      }
      const ctx: SuiteContext = { log: (l) => log(l), ...(suite.needsCluster && cluster ? { kc: cluster.kc, kubeconfigPath: cluster.kubeconfigPath, ...(cluster.auditLog ? { auditLog: cluster.auditLog } : {}) } : {}) };
      const kubernetes = suite.needsCluster && cluster ? cluster.kubernetes : `not used by this suite (local control plane ${VERSIONS.kubernetes} not started)`;
      outcomes.push(await runSuite(suite, ctx, kubernetes));
    }
  } finally {
    await stopCluster();
  }

  const order = catalog.map((s) => s.name);
  outcomes.sort((a, b) => order.indexOf(a.suite) - order.indexOf(b.suite));
  process.stdout.write(`${consoleTable(outcomes)}\n`);
  if (opts.write) await writeReport(catalog, outcomes);
  return outcomes.some((o) => o.status === 'not-run' && o.reason.startsWith('failed')) ? 1 : 0;
}

async function writeReport(catalog: SuiteEntry[], outcomes: SuiteOutcome[]): Promise<void> {
  const placement = outcomes.find((o) => o.suite === 'placement');
  if (placement?.status === 'ran') {
    const svg = placementPlot(placement.results);
    if (svg) {
      await mkdir(join(REPO_ROOT, 'docs', 'bench'), { recursive: true });
      await writeFile(PLACEMENT_SVG, svg);
      log('wrote docs/bench/placement.svg');
    }
  }
  const previous = await readFile(BENCHMARKS_MD, 'utf8').catch(() => undefined);
  const plot = ['', '![Probes per decision and decision time against fleet size, ours beside the exhaustive search](docs/bench/placement.svg)'];
  const markdown = renderBenchmarks({ catalog, current: outcomes, previous, extras: { placement: plot } });
  await writeFile(BENCHMARKS_MD, markdown);
  log('wrote BENCHMARKS.md');
}

process.exitCode = await main();
