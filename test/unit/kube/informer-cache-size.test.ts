// What the informer keeps: objects without the server's write bookkeeping (managedFields, kubectl's
// last-applied copy), and a revision that moves with every change so derived views can be cached.
import { expect } from 'chai';
import { Informer, withoutBookkeeping } from '../../../src/kube/informer.ts';
import type { ListResult, ListWatchSource, WatchEventHandler } from '../../../src/kube/list-watch.ts';
import { FakeClock, flush, silentLogger } from './fakes.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function obj(name: string, rv: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:data': {} } }], annotations: { [LAST_APPLIED]: '{"big":"copy"}', keep: 'me' }, ...extra },
    data: { value: 'v' },
  };
}

class OneShotSource implements ListWatchSource {
  emit: WatchEventHandler = () => undefined;
  readonly items: unknown[];
  constructor(items: unknown[]) {
    this.items = items;
  }
  list(): Promise<ListResult> {
    return Promise.resolve({ items: this.items, resourceVersion: '10' });
  }
  watch(_rv: string, onEvent: WatchEventHandler): Promise<{ stop(): void }> {
    this.emit = onEvent;
    return Promise.resolve({ stop: () => undefined });
  }
}

describe('Informer cache contents (no server)', () => {
  it('withoutBookkeeping drops managedFields and the last-applied annotation, keeps everything else, and leaves its input alone', () => {
    const raw = obj('a', '1');
    const out = withoutBookkeeping(raw) as { metadata: Record<string, unknown>; data: unknown };
    expect(out.metadata).to.not.have.property('managedFields');
    expect(out.metadata.annotations).to.deep.equal({ keep: 'me' });
    expect(out.metadata.name).to.equal('a');
    expect(out.data).to.deep.equal({ value: 'v' });
    expect((raw.metadata as Record<string, unknown>).managedFields, 'input not mutated').to.have.length(1);
    const plain = { metadata: { name: 'b' } };
    expect(withoutBookkeeping(plain), 'nothing to strip: the same object').to.equal(plain);
    expect(withoutBookkeeping(null)).to.equal(null);
  });

  it('parses and caches objects without bookkeeping, and moves its revision on every change only', async () => {
    const seen: unknown[] = [];
    const source = new OneShotSource([obj('a', '1'), obj('b', '2')]);
    const informer = new Informer<Record<string, unknown>>(source, {
      resource: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
      name: 'unit-informer-bookkeeping',
      parse: (o) => {
        seen.push(o);
        return o as Record<string, unknown>;
      },
      clock: new FakeClock(),
      logger: silentLogger,
    });
    expect(informer.revision()).to.equal(0);
    informer.start();
    await informer.waitForSync();
    await flush();
    expect(seen.every((o) => !('managedFields' in ((o as { metadata: object }).metadata)))).to.equal(true);
    expect(informer.get('ns/a')?.metadata).to.not.have.property('managedFields');
    const afterSync = informer.revision();
    expect(afterSync).to.equal(2);
    source.emit('MODIFIED', obj('a', '1')); // same resourceVersion: not a change
    expect(informer.revision()).to.equal(afterSync);
    source.emit('MODIFIED', obj('a', '11'));
    source.emit('DELETED', obj('b', '12'));
    expect(informer.revision()).to.equal(afterSync + 2);
    await informer.stop();
  });
});
