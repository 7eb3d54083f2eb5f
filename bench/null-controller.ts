// The floor of "MdevMigration created → Planned": a controller that decides nothing. It runs the
// operator's own client stack (the informer of src/kube, a merge patch of the status subresource
// through the same request code and keep-alive pool) in its own process, and writes Planned the
// moment its watch delivers a new MdevMigration of its namespace. The controller suite runs it on
// the same cluster with the same fleet loaded, in the same run, while the real controller is not
// running; the operator's latency is reported next to this one.
//
//   node bench/null-controller.ts --kubeconfig PATH --namespace NS --health-port N
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { STANDIN_USER_AGENTS } from '../dev/sim/user-agents.ts';
import { FIELD_MANAGER_CONTROLLER, parseFromWire, type MdevMigration } from '../src/api/v1alpha1/index.ts';
import { MDEV_MIGRATIONS } from '../src/controller/resources.ts';
import { mergePatch } from '../src/kube/apply.ts';
import { informerFor } from '../src/kube/informer.ts';
import { withUserAgent } from '../src/kube/user-agent.ts';
import { loggerFor } from '../src/observability/logger.ts';

const { values } = parseArgs({ options: { kubeconfig: { type: 'string' }, namespace: { type: 'string' }, 'health-port': { type: 'string' } } });
if (!values.kubeconfig || !values.namespace || !values['health-port']) {
  process.stderr.write('usage: node bench/null-controller.ts --kubeconfig PATH --namespace NS --health-port N\n');
  process.exit(2);
}
const base = new KubeConfig();
base.loadFromFile(values.kubeconfig);
const kc = withUserAgent(base, STANDIN_USER_AGENTS.floor);
const log = loggerFor('null-controller');
const namespace = values.namespace;

function planned(m: MdevMigration): void {
  if (m.status?.phase) return;
  const now = new Date().toISOString();
  const status = {
    observedGeneration: m.metadata.generation ?? 1,
    phase: 'Planned',
    message: 'null controller: Planned on sight',
    ...(m.spec.dryRun ? { completionTime: now } : {}),
    conditions: [{ type: 'Ready', status: m.spec.dryRun ? 'True' : 'Unknown', reason: 'NullController', message: 'floor', lastTransitionTime: now.replace(/\.\d{3}Z$/, 'Z'), observedGeneration: m.metadata.generation ?? 1 }],
  };
  mergePatch(kc, MDEV_MIGRATIONS, { namespace, name: m.metadata.name }, { metadata: { resourceVersion: m.metadata.resourceVersion }, status }, { subresource: 'status', fieldManager: FIELD_MANAGER_CONTROLLER })
    .catch((err: unknown) => log.error('null controller: status write failed', { name: m.metadata.name, error: String(err) }));
}

const informer = informerFor<MdevMigration>(kc, { resource: MDEV_MIGRATIONS, namespace, name: 'null-controller', parse: (o) => parseFromWire('MdevMigration', o, log) });
informer.addHandlers({ add: planned });
informer.start();
await informer.waitForSync();
const health = createServer((_req, res) => res.end('ok')).listen(Number(values['health-port']), '127.0.0.1');
const stop = async (): Promise<void> => {
  health.close();
  await informer.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
