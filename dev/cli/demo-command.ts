// `mdev-operator demo` (what `npm start` runs): the whole story on the real local control plane.
// It starts the control plane (building it on first use), runs the story (dev/demo/story.ts),
// prints the summary, and then either waits with everything running (default: Ctrl-C, SIGTERM or
// `npm stop` end it) or, with --once, asserts the outcomes and exits 0 or 1. The controller, the
// webhook, the fleet and the KubeVirt stand-in live in this process; the control plane runs as
// its own processes, stopped on exit only when this demo started it. With --kubeconfig (or
// KUBECONFIG) the demo runs against that cluster and never starts or stops a local one.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import winston from 'winston';
import { DEFAULT_NAMESPACE } from '../../src/api/v1alpha1/constants.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { kubeRequest } from '../../src/kube/request.ts';
import { ClusterError, clusterPaths, down, status, up } from '../localcluster/index.ts';
import { loggerFor, rootLogger, type Logger } from '../../src/observability/logger.ts';
import { Progress, type Write } from '../demo/progress.ts';
import { demoScenario, type Scenario, type ScenarioOptions } from '../demo/scenario.ts';
import { runStory, type StoryResult, type StoryRun } from '../demo/story.ts';
import { checkOutcomes, renderChecks, renderSummary, type Check } from '../demo/summary.ts';
import { UsageError } from '../../src/cli/usage-error.ts';

export const DEMO_USAGE = `Usage: mdev-operator demo [flags]      (npm start; npm start -- --once)

Runs the whole story on the local control plane: a simulated fleet of 10 nodes, the controller and
its VMIM webhook; (a) a migration that succeeds, (b) one that fails and says why, (c) a drain-style
eviction the webhook steers, (d) a plan-drain table; then a summary.

  --once                run the story, assert its outcomes, stop everything, exit 0 or 1
  --kubeconfig PATH     use this cluster (else KUBECONFIG) instead of the local control plane
  --namespace NS        operator namespace (default ${DEFAULT_NAMESPACE})
  --vm-namespace NS     namespace of the demo's VMIs and migrations (default mdev-demo)
  --cluster-name NAME   local control plane to use (default: default, in .localcluster/)
  --log-level LEVEL     level of the component log file (default info)
`;

export interface DemoOptions {
  once: boolean;
  /** An existing cluster; undefined = the local control plane `clusterName`. */
  kubeconfig?: string;
  clusterName: string;
  scenario: ScenarioOptions;
  /** Where the live output goes (default stdout). */
  write?: Write;
  log?: Logger;
  /** Webhook configuration name (tests use a unique one). */
  webhookConfigName?: string;
  /** Called with the story's outcome and the checks, before the demo waits or stops (tests assert on it). */
  onResult?: (result: StoryResult, checks: Check[]) => void;
  /** Interactive mode only: resolves when the demo should end (default: SIGINT/SIGTERM or the cluster stopping). */
  until?: (ctx: { clusterName?: string }) => Promise<string>;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      once: { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', default: DEFAULT_NAMESPACE },
      'vm-namespace': { type: 'string', default: 'mdev-demo' },
      'cluster-name': { type: 'string', default: 'default' },
      'log-level': { type: 'string', default: 'info' },
    },
    allowPositionals: false,
  });
  if (!['error', 'warn', 'info', 'debug'].includes(values['log-level'])) throw new UsageError(`--log-level must be error, warn, info or debug, got '${values['log-level']}'`);
  const clusterName = values['cluster-name'];
  const logFile = join(clusterPaths(clusterName).root, 'demo.log');
  routeLogsToFile(logFile, values['log-level']);
  process.stdout.write(`mdev-operator demo: component logs go to ${logFile}\n`);
  const code = await runDemo({
    once: values.once,
    kubeconfig: externalKubeconfig(values.kubeconfig, clusterName),
    clusterName,
    scenario: { operatorNamespace: values.namespace, namespace: values['vm-namespace'] },
  });
  // Everything the demo started is stopped by now; a component still retrying against a control
  // plane that is gone (after `npm stop`) must not keep the process alive. Unref'd: a clean exit is not delayed.
  setTimeout(() => process.exit(code), 3_000).unref();
  return code;
}

/**
 * The cluster to use instead of the local one: --kubeconfig, else KUBECONFIG. The local control
 * plane's own kubeconfig (what the demo tells users to export) still means "the local one", so a
 * second `npm start` in that shell starts it again instead of failing to connect.
 */
export function externalKubeconfig(flag: string | undefined, clusterName: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const chosen = flag ?? env.KUBECONFIG?.split(':').find((p) => p !== '');
  if (!chosen) return undefined;
  if (resolve(chosen) === resolve(clusterPaths(clusterName).kubeconfig)) return undefined;
  return chosen;
}

/** The console stays for the story; the components' JSON logs go to a file. */
function routeLogsToFile(file: string, level: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  rootLogger.clear();
  rootLogger.add(new winston.transports.File({ filename: file, level }));
  rootLogger.level = level;
}

interface Connection {
  kc: KubeConfig;
  kubeconfigPath: string;
  /** The local control plane (not an existing cluster). */
  local: boolean;
  /** This demo started the local control plane, so it stops it too. */
  startedCluster: boolean;
}

/** Starts (or reuses) the local control plane, or checks that the existing cluster answers. */
async function connect(o: DemoOptions, progress: Progress, onStarted: () => void): Promise<Connection> {
  if (o.kubeconfig !== undefined) {
    progress.step(`Using the cluster of ${o.kubeconfig}`);
    const kc = loadKubeConfig({ kubeconfig: o.kubeconfig });
    await kubeRequest(kc, { method: 'GET', path: '/version' });
    return { kc, kubeconfigPath: o.kubeconfig, local: false, startedCluster: false };
  }
  progress.step('Local control plane (etcd, kube-apiserver, kube-controller-manager)');
  const before = await status({ name: o.clusterName });
  if (!before.ready) onStarted();
  const cluster = await up({ name: o.clusterName, log: (l) => progress.line(l.replace(/^\[cluster\]\s*/, '')) });
  progress.line(`${before.ready ? 'reusing the running' : 'started the'} control plane at ${cluster.server}`);
  return { kc: loadKubeConfig({ kubeconfig: cluster.kubeconfig }), kubeconfigPath: cluster.kubeconfig, local: true, startedCluster: !before.ready };
}

/**
 * Stops the in-process parts; on a cluster that outlives the demo (an existing one, or a local one
 * that ran before) also the stand-in nodes and the VM namespace; a control plane it started, last.
 */
async function teardown(c: Connection, o: DemoOptions, run: StoryRun | undefined, namespace: string, write: Write): Promise<void> {
  const stays = !c.local || !c.startedCluster;
  await run?.stop({ deleteNodes: stays });
  if (stays) {
    await deleteNamespace(c.kc, namespace);
    if (c.local) write('The control plane was running before the demo and is left running; `npm stop` stops it.\n');
    return;
  }
  const stopped = await down({ name: o.clusterName });
  write(stopped.length > 0 ? `Stopped the control plane (${stopped.join(', ')}).\n` : 'The control plane was already stopped.\n');
}

function whereToLook(c: Connection, s: Scenario): string {
  const end = c.local
    ? `Ctrl-C here stops the demo${c.startedCluster ? ' and the control plane' : ''}; \`npm stop\` stops the control plane, which ends this demo too.`
    : 'Ctrl-C here stops the demo and removes its nodes and namespace from the cluster.';
  return `
Everything keeps running in this process (controller, webhook, ${s.nodes.length} simulated nodes with their agents, KubeVirt stand-in).
In another terminal:

  export KUBECONFIG=${resolve(c.kubeconfigPath)}
  kubectl get mdev,mdevmig -A
  kubectl get mdevmig -n ${s.namespace} ${s.fail.migration} -o yaml
  npx mdev-operator explain ${s.namespace}/${s.fail.vmi} --namespace ${s.operatorNamespace}
  npx mdev-operator plan-drain ${s.drain.node} --namespace ${s.operatorNamespace}

${end}
`;
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const write = o.write ?? ((t: string) => void process.stdout.write(t));
  const progress = new Progress(write, Date.now());
  const log = o.log ?? loggerFor('demo');
  // Ctrl-C before the summary: the in-process parts die with the process; a control plane this demo
  // started is stopped (the next run clears any leftovers on a cluster that stays).
  let stopOnSignal = false;
  const interrupted = o.until === undefined ? exitOnSignal(write, async () => (stopOnSignal ? void (await down({ name: o.clusterName })) : undefined)) : undefined;
  try {
    let c: Connection;
    try {
      c = await connect(o, progress, () => (stopOnSignal = true));
    } catch (err) {
      write(`\nmdev-operator demo: ${err instanceof ClusterError ? err.message : `cannot reach the cluster: ${(err as Error).message}`}\n`);
      return 1;
    }
    const scenario = demoScenario(o.scenario);
    let run: StoryRun;
    try {
      run = await runStory({ kc: c.kc, scenario, progress, log, ...(o.webhookConfigName ? { webhookConfigName: o.webhookConfigName } : {}) });
    } catch (err) {
      write(`\nmdev-operator demo: the story stopped: ${(err as Error).message}\n`);
      await teardown(c, o, undefined, scenario.namespace, write).catch((e: unknown) => write(`cleanup failed: ${(e as Error).message}\n`));
      return 1;
    }
    const checks = checkOutcomes(run.result);
    const ok = checks.every((x) => x.ok);
    write(`\n${renderSummary(run.result)}${renderChecks(checks)}`);
    o.onResult?.(run.result, checks);
    if (o.once) {
      await teardown(c, o, run, scenario.namespace, write);
      write(ok ? `demo --once: all ${checks.length} checks passed in ${progress.elapsed().toFixed(1)}s\n` : `demo --once: ${checks.filter((x) => !x.ok).length} of ${checks.length} checks FAILED\n`);
      return ok ? 0 : 1;
    }
    write(whereToLook(c, scenario));
    interrupted?.dispose();
    const reason = await (o.until ?? waitForEnd)(c.local ? { clusterName: o.clusterName } : {});
    write(`\n${reason}: stopping the controller, the webhook, the fleet and the KubeVirt stand-in\n`);
    await teardown(c, o, run, scenario.namespace, write);
    return ok ? 0 : 1;
  } finally {
    interrupted?.dispose();
  }
}

/** Until disposed, SIGINT/SIGTERM run `cleanup` and exit 130. */
function exitOnSignal(write: Write, cleanup: () => Promise<void>): { dispose(): void } {
  const handler = (signal: string): void => {
    write(`\n${signal} before the story finished: stopping\n`);
    cleanup().then(
      () => process.exit(130),
      () => process.exit(130),
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    dispose: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

/** SIGINT/SIGTERM, or the local control plane stopping (`npm stop` in another terminal). */
function waitForEnd(ctx: { clusterName?: string }): Promise<string> {
  return new Promise((done) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (reason: string): void => {
      if (timer) clearInterval(timer);
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
      // A second Ctrl-C during cleanup leaves at once.
      process.once('SIGINT', () => process.exit(130));
      done(reason);
    };
    const onInt = (): void => finish('SIGINT');
    const onTerm = (): void => finish('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    if (ctx.clusterName !== undefined) {
      const name = ctx.clusterName;
      timer = setInterval(() => {
        status({ name }).then(
          (s) => {
            if (!s.running) finish('the control plane was stopped (npm stop)');
          },
          () => undefined,
        );
      }, 2_000);
    }
  });
}

async function deleteNamespace(kc: KubeConfig, ns: string): Promise<void> {
  // Launcher pods are bound to stand-in nodes without a kubelet: they only go with grace period 0.
  await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods`, query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
  await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
}
