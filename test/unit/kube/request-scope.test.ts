// Requests made inside a request scope are aborted with the scope's signal, however deep in the
// async call chain they were made (a leader term's work: ADR 0014); requests made outside it are
// not. Against a loopback server that holds every request until the client gives up, the way an
// API server whose etcd is down holds a write.
import { expect } from 'chai';
import { kubeRequest } from '../../../src/kube/request.ts';
import { withRequestsAbortedBy } from '../../../src/kube/request-scope.ts';
import { loopbackApi, type LoopbackApi } from './loopback-api.ts';

class TermLost extends Error {
  constructor() {
    super('term lost');
    this.name = 'TermLost';
  }
}

describe('kube request scope: a scope\'s signal aborts every request made inside it (loopback server that never answers)', () => {
  let api: LoopbackApi;
  let held = 0;
  let arrived: () => void = () => undefined;
  beforeEach(async () => {
    held = 0;
    api = await loopbackApi(() => {
      held++;
      arrived();
    });
  });
  afterEach(() => api.close());

  const nextArrival = (): Promise<void> => new Promise((r) => (arrived = r));

  it('a request several awaits deep inside the scope rejects with the abort reason once the scope is aborted', async () => {
    const term = new AbortController();
    const deep = async (): Promise<unknown> => {
      await Promise.resolve();
      await new Promise((r) => setImmediate(r));
      return kubeRequest(api.kc, { method: 'PATCH', path: '/apis/x/v1/things/a/status', body: {} });
    };
    const arrival = nextArrival();
    const pending = withRequestsAbortedBy(term.signal, deep);
    await arrival;
    expect(held, 'the request reached the server and is held there').to.equal(1);
    term.abort(new TermLost());
    const err = await pending.then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(TermLost);
  });

  it('a request made outside the scope is not aborted by it, and the request\'s own signal still works inside', async () => {
    const term = new AbortController();
    term.abort(new TermLost());
    const outsideArrival = nextArrival();
    const own = new AbortController();
    const outside = kubeRequest(api.kc, { method: 'GET', path: '/api/v1/namespaces/default', signal: own.signal });
    await outsideArrival;
    const inside = withRequestsAbortedBy(term.signal, () => kubeRequest(api.kc, { method: 'GET', path: '/api/v1/namespaces/default' }));
    expect(await inside.then(() => undefined, (e: unknown) => e), 'a scope already aborted refuses at once').to.be.instanceOf(TermLost);
    own.abort(new Error('own signal'));
    const err = await outside.then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).to.equal('own signal');
    expect(held, 'only the outside request ever reached the server').to.equal(1);
  });
});
