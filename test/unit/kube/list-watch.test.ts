// A paginated LIST decodes each page's objects as the page arrives (so a large list's raw objects
// do not all live until its end) and fills in the apiVersion and kind list items omit.
import { expect } from 'chai';
import { apiListWatch } from '../../../src/kube/list-watch.ts';
import { loopbackApi, type LoopbackApi } from './loopback-api.ts';

describe('apiListWatch LIST (loopback server, two pages)', () => {
  let api: LoopbackApi;
  const order: string[] = [];
  beforeEach(async () => {
    order.length = 0;
    api = await loopbackApi((req, res) => {
      const second = req.url?.includes('continue=page2');
      order.push(second ? 'GET page 2' : 'GET page 1');
      res.setHeader('content-type', 'application/json');
      const names = second ? ['c'] : ['a', 'b'];
      res.end(JSON.stringify({
        kind: 'ConfigMapList', apiVersion: 'v1',
        metadata: { resourceVersion: '77', ...(second ? {} : { continue: 'page2' }) },
        items: names.map((name) => ({ metadata: { name, namespace: 'ns' }, data: { k: name } })),
      }));
    });
  });
  afterEach(() => api.close());

  const source = () => apiListWatch(api.kc, { resource: { group: '', version: 'v1', plural: 'configmaps', namespaced: true }, watchTimeoutSeconds: 60, inactivityTimeoutMs: 60_000, pageSize: 2 });

  it('decodes each page before reading the next, and returns what the decoder made', async () => {
    const { items, resourceVersion } = await source().list(AbortSignal.timeout(10_000), (raw) => {
      const o = raw as { apiVersion: string; kind: string; metadata: { name: string } };
      order.push(`decode ${o.metadata.name}`);
      return `${o.apiVersion}/${o.kind}/${o.metadata.name}`;
    });
    expect(order).to.deep.equal(['GET page 1', 'decode a', 'decode b', 'GET page 2', 'decode c']);
    expect(items).to.deep.equal(['v1/ConfigMap/a', 'v1/ConfigMap/b', 'v1/ConfigMap/c']);
    expect(resourceVersion).to.equal('77');
  });

  it('returns the raw objects, kind filled in, without a decoder', async () => {
    const { items } = await source().list(AbortSignal.timeout(10_000));
    expect(items).to.deep.equal(['a', 'b', 'c'].map((name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns' }, data: { k: name } })));
  });
});
