import { expect } from 'chai';
import { Informer, type WatchEndReason } from '../../../src/kube/informer.ts';
import type { ListDecoder, ListResult, ListWatchSource, WatchEventHandler } from '../../../src/kube/list-watch.ts';
import { metricValue } from '../../../src/observability/metrics.ts';
import { FakeClock, flush, silentLogger } from './fakes.ts';

interface Obj {
  name: string;
  value: string;
}

function cm(name: string, rv: string, value: unknown = 'ok'): unknown {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv }, data: { value } };
}

/** Accepts objects whose data.value is a string. */
function parse(o: unknown): Obj | undefined {
  const x = o as { metadata?: { name?: string }; data?: { value?: unknown } };
  return typeof x.data?.value === 'string' ? { name: x.metadata?.name ?? '', value: x.data.value } : undefined;
}

interface ScriptedWatch {
  rv: string;
  emit: WatchEventHandler;
  done: (err?: unknown) => void;
  stopped: boolean;
}

/**
 * A source whose list answers and watch streams are driven by the test. Like the real source it
 * hands each listed object to the informer's decoder, unless `ignoresDecoder` (a source may).
 */
class ScriptedSource implements ListWatchSource {
  lists: Array<() => ListResult> = [];
  listCalls = 0;
  watches: ScriptedWatch[] = [];
  ignoresDecoder = false;

  list(_signal: AbortSignal, decode?: ListDecoder): Promise<ListResult> {
    this.listCalls++;
    const next = this.lists.length > 1 ? this.lists.shift() : this.lists[0];
    if (!next) return Promise.reject(new Error('no list scripted'));
    try {
      const result = next();
      if (!decode || this.ignoresDecoder) return Promise.resolve(result);
      return Promise.resolve({ ...result, items: result.items.map(decode) });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  watch(rv: string, onEvent: WatchEventHandler, onDone: (err?: unknown) => void): Promise<{ stop(): void }> {
    const w: ScriptedWatch = { rv, emit: onEvent, done: onDone, stopped: false };
    this.watches.push(w);
    return Promise.resolve({ stop: () => (w.stopped = true) });
  }

  get current(): ScriptedWatch {
    return this.watches.at(-1) as ScriptedWatch;
  }
}

let seq = 0;
function setup(opts: { watchdogMs?: number; relistIntervalMs?: number } = {}) {
  const clock = new FakeClock();
  const source = new ScriptedSource();
  const ends: WatchEndReason[] = [];
  const events: string[] = [];
  const name = `unit-informer-${seq++}`;
  const informer = new Informer<Obj>(source, {
    resource: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
    name,
    parse,
    clock,
    logger: silentLogger,
    watchdogMs: opts.watchdogMs ?? 90_000,
    relistIntervalMs: opts.relistIntervalMs ?? 600_000,
    onWatchEnd: (r) => ends.push(r),
  });
  informer.addHandlers({
    add: (o) => events.push(`add ${o.name}=${o.value}`),
    update: (a, b) => events.push(`update ${a.name} ${a.value}->${b.value}`),
    delete: (o) => events.push(`delete ${o.name}`),
  });
  return { clock, source, informer, ends, events, name };
}

describe('Informer (scripted list/watch, fake clock)', () => {
  it('lists, syncs, then applies watch events to the cache and handlers', async () => {
    const { source, informer, events } = setup();
    source.lists = [() => ({ items: [cm('a', '1'), cm('b', '2')], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    expect(informer.hasSynced()).to.equal(true);
    expect(source.current.rv).to.equal('10');
    source.current.emit('MODIFIED', cm('a', '11', 'changed'));
    source.current.emit('MODIFIED', cm('a', '11', 'changed')); // same RV: no second update
    source.current.emit('ADDED', cm('c', '12'));
    source.current.emit('DELETED', cm('b', '13'));
    expect(events).to.deep.equal(['add a=ok', 'add b=ok', 'update a ok->changed', 'add c=ok', 'delete b']);
    expect(informer.get('ns/a')?.value).to.equal('changed');
    expect(informer.keys().sort()).to.deep.equal(['ns/a', 'ns/c']);
    await informer.stop();
  });

  it('skips malformed objects, counts them and keeps going', async () => {
    const { source, informer, events, name } = setup();
    source.lists = [() => ({ items: [cm('good', '1'), cm('bad', '2', 42), { metadata: {} }], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    source.current.emit('ADDED', cm('bad2', '11', { nested: true }));
    source.current.emit('ADDED', cm('later', '12'));
    source.current.emit('MODIFIED', cm('good', '13', null)); // a valid object turning malformed leaves the cache
    expect(informer.keys().sort()).to.deep.equal(['ns/later']);
    expect(events).to.deep.equal(['add good=ok', 'add later=ok', 'delete good']);
    expect(await metricValue('informer_malformed_objects_total', { resource: name })).to.equal(4);
    await informer.stop();
  });

  it('resumes from the last resourceVersion when the server closes the watch normally', async () => {
    const { source, informer, ends } = setup();
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    source.current.emit('BOOKMARK', { metadata: { resourceVersion: '15' } });
    source.current.done();
    await flush();
    expect(ends).to.deep.equal(['closed']);
    expect(source.listCalls).to.equal(1);
    expect(source.current.rv).to.equal('15');
    await informer.stop();
  });

  it('relists on 410 Gone and reports objects that vanished meanwhile as deleted', async () => {
    const { source, informer, events, ends, name } = setup();
    source.lists = [
      () => ({ items: [cm('a', '1'), cm('b', '2')], resourceVersion: '10' }),
      () => ({ items: [cm('a', '1'), cm('c', '30')], resourceVersion: '40' }),
    ];
    informer.start();
    await informer.waitForSync();
    await flush();
    source.current.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await flush();
    expect(ends).to.deep.equal(['gone']);
    expect(source.listCalls).to.equal(2);
    expect(source.current.rv).to.equal('40');
    expect(events).to.deep.equal(['add a=ok', 'add b=ok', 'add c=ok', 'delete b']);
    expect(await metricValue('watch_restarts_total', { resource: name, reason: 'gone' })).to.equal(1);
    await informer.stop();
  });

  it('parses a listed object once, during the list, and not again on a relist that finds it unchanged', async () => {
    const parsed: string[] = [];
    const source = new ScriptedSource();
    const informer = new Informer<Obj>(source, {
      resource: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
      name: `unit-informer-${seq++}`,
      parse: (o) => (parsed.push((o as { metadata: { name: string } }).metadata.name), parse(o)),
      clock: new FakeClock(),
      logger: silentLogger,
    });
    // What had been parsed by the time each list call returned.
    const whenListed: string[][] = [];
    const list = source.list.bind(source);
    source.list = async (signal, decode) => {
      const result = await list(signal, decode);
      whenListed.push([...parsed]);
      return result;
    };
    source.lists = [
      () => ({ items: [cm('a', '1'), cm('b', '2')], resourceVersion: '10' }),
      () => ({ items: [cm('a', '1'), cm('b', '3', 'new')], resourceVersion: '40' }),
    ];
    informer.start();
    await informer.waitForSync();
    await flush();
    source.current.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await flush();
    expect(whenListed).to.deep.equal([['a', 'b'], ['a', 'b', 'b']]);
    expect(parsed).to.deep.equal(['a', 'b', 'b']);
    expect(informer.get('ns/b')?.value).to.equal('new');
    await informer.stop();
  });

  it('decodes the listed objects itself when the source ignores the decoder', async () => {
    const { source, informer, events } = setup();
    source.ignoresDecoder = true;
    source.lists = [() => ({ items: [cm('a', '1'), cm('bad', '2', 42)], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    expect(events).to.deep.equal(['add a=ok']);
    expect(informer.keys()).to.deep.equal(['ns/a']);
    await informer.stop();
  });

  it('rebuilds a silent watch when the watchdog bound passes, not before', async () => {
    const { source, informer, ends, clock, name } = setup({ watchdogMs: 30_000 });
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    const silent = source.current;
    await clock.advance(20_000);
    silent.emit('BOOKMARK', { metadata: { resourceVersion: '11' } }); // traffic resets the bound
    await clock.advance(29_999);
    expect(ends).to.deep.equal([]);
    await clock.advance(1);
    expect(ends).to.deep.equal(['watchdog']);
    expect(silent.stopped, 'the silent connection is aborted').to.equal(true);
    await clock.advance(2_000); // backoff after the failure
    expect(source.listCalls, 'rebuilt with a relist').to.equal(2);
    expect(source.watches).to.have.length(2);
    expect(await metricValue('watch_restarts_total', { resource: name, reason: 'watchdog' })).to.equal(1);
    await informer.stop();
  });

  it('retries a failing list with backoff and syncs once it succeeds', async () => {
    const { source, informer, clock } = setup();
    let fail = true;
    source.lists = [
      () => {
        if (fail) throw Object.assign(new Error('503'), { code: 503 });
        return { items: [cm('a', '1')], resourceVersion: '5' };
      },
    ];
    informer.start();
    await clock.advance(10_000);
    expect(informer.hasSynced()).to.equal(false);
    const callsWhileFailing = source.listCalls;
    expect(callsWhileFailing, 'backs off instead of spinning (200 ms doubling, at most 2.4 s apart)').to.be.within(2, 12);
    fail = false;
    await clock.advance(40_000);
    expect(informer.hasSynced()).to.equal(true);
    expect(informer.get('ns/a')?.value).to.equal('ok');
    await informer.stop();
  });

  it('relists periodically even when the watch is healthy', async () => {
    const { source, informer, ends, clock } = setup({ relistIntervalMs: 60_000, watchdogMs: 1_000_000 });
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await clock.advance(70_000);
    expect(ends).to.deep.equal(['relist']);
    expect(source.listCalls).to.equal(2);
    await informer.stop();
  });

  it('keeps running when a handler throws', async () => {
    const { source, informer } = setup();
    informer.addHandlers({ add: () => { throw new Error('handler bug'); } });
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    source.current.emit('ADDED', cm('x', '11'));
    source.current.emit('ADDED', cm('y', '12'));
    expect(informer.keys().sort()).to.deep.equal(['ns/x', 'ns/y']);
    await informer.stop();
  });
});

describe('Informer backoff on instant closes', () => {
  it('backs off instead of spinning when the server closes every watch immediately', async () => {
    const { source, informer, clock } = setup();
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    const open = source.watch.bind(source);
    source.watch = async (rv, onEvent, onDone) => {
      const h = await open(rv, onEvent, onDone);
      queueMicrotask(() => onDone()); // 200 OK, then the stream ends at once
      return h;
    };
    informer.start();
    await informer.waitForSync();
    await clock.advance(5_000);
    // 200 ms doubling with ±20% jitter: at most ~7 attempts in 5 s; a hot loop would make hundreds.
    expect(source.watches.length).to.be.within(2, 8);
    expect(source.listCalls, 'a normal close resumes without relisting').to.equal(1);
    await informer.stop();
  });
});

describe('Informer currency: when the cache may be behind the API server', () => {
  const down = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });

  it('is current from the first list; a broken watch makes it behind until a relist succeeds, then current from that list', async () => {
    const { source, informer, clock } = setup();
    let failing = false;
    source.lists = [() => {
      if (failing) throw down();
      return { items: [cm('a', '1')], resourceVersion: '10' };
    }];
    const recovered: number[] = [];
    informer.onCurrent(() => recovered.push(clock.now()));
    expect(informer.currentSince()).to.equal(undefined);
    informer.start();
    await informer.waitForSync();
    await flush();
    const synced = informer.currentSince();
    expect(synced).to.equal(clock.now());
    failing = true;
    source.current.done(down()); // the API server went away mid-watch
    await flush();
    expect(informer.currentSince(), 'behind while relisting and in backoff').to.equal(undefined);
    expect(informer.hasSynced(), 'still synced: the first list happened').to.equal(true);
    await clock.advance(20_000);
    expect(informer.currentSince()).to.equal(undefined);
    failing = false;
    await clock.advance(2_400); // within the capped delay of the next retry
    expect(informer.currentSince(), 'current again, from the list that succeeded').to.be.a('number');
    expect(informer.currentSince() as number).to.be.greaterThan(synced as number);
    expect(recovered).to.have.length(2);
    expect(recovered[1]).to.equal(informer.currentSince());
    await informer.stop();
  });

  it('stays current across a normal close and the periodic relist (nothing was missed)', async () => {
    const { source, informer, clock } = setup({ relistIntervalMs: 60_000, watchdogMs: 1_000_000 });
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    const since = informer.currentSince();
    source.current.done();
    await flush();
    await clock.advance(70_000);
    expect(source.listCalls, 'relisted once, periodically').to.equal(2);
    expect(informer.currentSince()).to.equal(since);
    await informer.stop();
  });

  it('a 410 makes it behind until the relist; the relist right after makes it current again', async () => {
    const { source, informer, clock } = setup();
    source.lists = [() => ({ items: [], resourceVersion: '10' })];
    informer.start();
    await informer.waitForSync();
    await flush();
    await clock.advance(5_000);
    source.current.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired' });
    await flush();
    expect(informer.currentSince()).to.equal(clock.now());
    await informer.stop();
  });

  it('retries within 2.4 s during the first three minutes of an outage, backs off to 30 s after them, and retryNow() ends the wait', async () => {
    const { source, informer, clock } = setup();
    let failing = false;
    const listedAt: number[] = [];
    source.lists = [() => {
      listedAt.push(clock.now());
      if (failing) throw down();
      return { items: [], resourceVersion: '10' };
    }];
    informer.start();
    await informer.waitForSync();
    await flush();
    failing = true;
    source.current.done(down());
    await clock.advance(180_000);
    const gaps = listedAt.slice(2).map((t, i) => t - (listedAt[i + 1] as number));
    expect(Math.max(...gaps), 'capped low while the failures are young').to.be.at.most(2_400);
    await clock.advance(240_000);
    const late = listedAt.slice(-2);
    expect((late[1] as number) - (late[0] as number), 'a long outage backs off further').to.be.greaterThan(2_400);
    failing = false;
    const before = source.listCalls;
    informer.retryNow();
    await flush();
    expect(source.listCalls, 'retryNow lists at once').to.equal(before + 1);
    expect(informer.currentSince()).to.equal(clock.now());
    await informer.stop();
  });
});
