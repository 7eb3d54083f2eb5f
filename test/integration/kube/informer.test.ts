import { expect } from 'chai';
import { z } from 'zod';
import { informerFor, type Informer, type WatchEndReason } from '../../../src/kube/informer.ts';
import type { ListWatchSource } from '../../../src/kube/list-watch.ts';
import { metricValue } from '../../../src/observability/metrics.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { FakeClock } from '../../unit/kube/fakes.ts';
import { waitFor } from './wait.ts';

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };

/** A "valid" ConfigMap for these tests carries a numeric data.count. */
const Counted = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  data: z.object({ count: z.string().regex(/^\d+$/) }),
});
type Counted = z.infer<typeof Counted>;
const parse = (o: unknown): Counted | undefined => Counted.safeParse(o).data;

function configMap(ns: string, name: string, count: string): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: { app: 'informer-test' } }, data: { count } });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

describe('Informer against the API server', function () {
  this.timeout(60_000);
  let ns: string;
  const informers: Informer<Counted>[] = [];

  before(async () => {
    ns = uniqueName('kube-informer');
    await ok(['create', 'namespace', ns]);
  });

  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('sees add, update and delete of ConfigMaps', async () => {
    await ok(['apply', '-f', '-'], configMap(ns, 'pre-existing', '1'));
    const events: string[] = [];
    const informer = informerFor(testKubeConfig(), { resource: CONFIGMAPS, namespace: ns, labelSelector: 'app=informer-test', parse, name: uniqueName('cm') });
    informers.push(informer);
    informer.addHandlers({
      add: (o) => events.push(`add ${o.metadata.name}=${o.data.count}`),
      update: (a, b) => events.push(`update ${a.metadata.name} ${a.data.count}->${b.data.count}`),
      delete: (o) => events.push(`delete ${o.metadata.name}`),
    });
    informer.start();
    await informer.waitForSync();
    expect(informer.get(`${ns}/pre-existing`)?.data.count).to.equal('1');

    await ok(['apply', '-f', '-'], configMap(ns, 'a', '1'));
    await waitFor('the add of a', () => informer.get(`${ns}/a`) !== undefined);
    await ok(['apply', '-f', '-'], configMap(ns, 'a', '2'));
    await waitFor('the update of a', () => informer.get(`${ns}/a`)?.data.count === '2');
    await ok(['delete', 'configmap', '-n', ns, 'a']);
    await waitFor('the delete of a', () => informer.get(`${ns}/a`) === undefined);

    expect(events).to.deep.equal(['add pre-existing=1', 'add a=1', 'update a 1->2', 'delete a']);
    expect(informer.list().map((o) => o.metadata.name)).to.deep.equal(['pre-existing']);
  });

  it('skips a malformed object and keeps delivering the others', async () => {
    const name = uniqueName('cm');
    const informer = informerFor(testKubeConfig(), { resource: CONFIGMAPS, namespace: ns, labelSelector: 'app=informer-test', parse, name });
    informers.push(informer);
    informer.start();
    await informer.waitForSync();
    await ok(['apply', '-f', '-'], configMap(ns, 'malformed', 'not-a-number'));
    await ok(['apply', '-f', '-'], configMap(ns, 'after-malformed', '7'));
    await waitFor('the object created after the malformed one', () => informer.get(`${ns}/after-malformed`) !== undefined);
    expect(informer.get(`${ns}/malformed`)).to.equal(undefined);
    expect(await metricValue('informer_malformed_objects_total', { resource: name })).to.be.at.least(1);
  });

  it('rebuilds a watch that went silent (stand-in: a test hook swallows the first watch) and catches up', async () => {
    // Time is a fake clock: the bound is checked exactly (one ms short: no watchdog; at the bound:
    // watchdog), instead of comparing the informer's clock with the test's.
    const name = uniqueName('cm');
    const watchdogMs = 1_500;
    const clock = new FakeClock();
    const ends: WatchEndReason[] = [];
    let silentWatchOpened = false;
    let silentStopped = false;
    const wrapSource = (real: ListWatchSource): ListWatchSource => {
      let first = true;
      return {
        list: (signal, decode) => real.list(signal, decode),
        watch: async (rv, onEvent, onDone) => {
          if (!first) return real.watch(rv, onEvent, onDone);
          first = false;
          silentWatchOpened = true;
          return { stop: () => (silentStopped = true) }; // connected, then nothing: a half-open TCP stream
        },
      };
    };
    const informer = informerFor(testKubeConfig(), {
      resource: CONFIGMAPS, namespace: ns, labelSelector: 'app=informer-test', parse, name, watchdogMs, backoff: { initialMs: 100 }, wrapSource, clock,
      onWatchEnd: (reason) => ends.push(reason),
    });
    informers.push(informer);
    informer.start();
    await informer.waitForSync();
    await waitFor('the silent watch to be opened', () => silentWatchOpened);
    await ok(['apply', '-f', '-'], configMap(ns, 'during-silence', '3'));

    await clock.advance(watchdogMs - 1);
    expect(ends, 'no watchdog one millisecond before its bound').to.deep.equal([]);
    expect(informer.get(`${ns}/during-silence`), 'the silent watch delivered nothing').to.equal(undefined);
    await clock.advance(1);
    expect(ends).to.deep.equal(['watchdog']);
    expect(silentStopped, 'the silent watch was torn down').to.equal(true);
    await clock.advance(1_000); // past the jittered backoff before the relist
    await waitFor('the object written while the watch was silent', () => informer.get(`${ns}/during-silence`) !== undefined);
    expect(await metricValue('watch_restarts_total', { resource: name, reason: 'watchdog' })).to.equal(1);

    await ok(['apply', '-f', '-'], configMap(ns, 'after-rebuild', '4'));
    await waitFor('an event on the rebuilt watch', () => informer.get(`${ns}/after-rebuild`) !== undefined);
  });
});
