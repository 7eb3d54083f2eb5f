// The WATCH stream on a loopback server: events split across chunks arrive whole and in order, the
// end of the stream is reported once, HTTP errors carry the Status body, a silent stream is aborted
// after its inactivity bound, a line that is not JSON ends the watch, and stop() is quiet.
import { expect } from 'chai';
import type { ServerResponse } from 'node:http';
import { apiStatus, isGone } from '../../../src/kube/errors.ts';
import { watchStream, type WatchStream } from '../../../src/kube/watch-stream.ts';
import { FakeClock } from './fakes.ts';
import { loopbackApi, type Handler, type LoopbackApi } from './loopback-api.ts';

interface Run {
  events: [string, unknown][];
  done: Promise<unknown>;
  handle: WatchStream;
}

async function watch(api: LoopbackApi, inactivityTimeoutMs = 60_000): Promise<Run> {
  const events: [string, unknown][] = [];
  let resolveDone!: (err: unknown) => void;
  const done = new Promise<unknown>((r) => (resolveDone = r));
  const handle = await watchStream(api.kc, { path: '/api/v1/nodes', query: { resourceVersion: '7', labelSelector: undefined }, inactivityTimeoutMs }, (t, o) => events.push([t, o]), (err) => resolveDone(err ?? 'closed'));
  return { events, done, handle };
}

describe('kube watch stream (loopback server)', () => {
  let api: LoopbackApi;
  let respond: Handler;
  let open: ServerResponse | undefined;
  beforeEach(async () => {
    api = await loopbackApi((req, res) => respond(req, res));
  });
  afterEach(() => api.close());

  it('delivers events split across chunks in order, then reports the close by the server', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const lines = [{ type: 'ADDED', object: { metadata: { name: 'a' } } }, { type: 'BOOKMARK', object: { metadata: { resourceVersion: '9' } } }].map((e) => JSON.stringify(e)).join('\n') + '\n';
      res.write(lines.slice(0, 17));
      setImmediate(() => res.end(lines.slice(17)));
    };
    const run = await watch(api);
    expect(await run.done).to.equal('closed');
    expect(run.events).to.deep.equal([['ADDED', { metadata: { name: 'a' } }], ['BOOKMARK', { metadata: { resourceVersion: '9' } }]]);
    expect(api.requests[0]?.url).to.equal('/api/v1/nodes?watch=true&resourceVersion=7');
    expect(api.requests[0]?.authorization).to.equal('Bearer loopback-token');
  });

  it('reports an HTTP error with the API server\'s Status, so 410 reads as Gone', async () => {
    respond = (_req, res) => {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 7 (42)' }));
    };
    const err = await (await watch(api)).done;
    expect(isGone(err)).to.equal(true);
    expect(apiStatus(err).message).to.contain('too old resource version');
  });

  it('aborts a stream that sends no bytes within its inactivity bound (fake clock), and not a moment before', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
      open = res; // then silence
    };
    const clock = new FakeClock();
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    let result: unknown = 'running';
    await watchStream(api.kc, { path: '/api/v1/nodes', query: {}, inactivityTimeoutMs: 30_000, clock }, () => first(), (err) => (result = err));
    await gotFirst; // the bytes of the event re-armed the timer at the clock's current time
    await clock.advance(29_999);
    expect(result, 'one ms short of the bound').to.equal('running');
    await clock.advance(1);
    expect((result as Error).name).to.equal('TimeoutError');
    expect((result as Error).message).to.contain('no bytes for 30000 ms');
    open?.end();
  });

  it('ends the watch with an error on a line that is not JSON', async () => {
    respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"type":"ADDED","object":{}}\nnot json\n{"type":"ADDED","object":{}}\n');
    };
    const run = await watch(api);
    expect(String(await run.done)).to.contain('not JSON');
    expect(run.events).to.have.length(1);
  });

  it('stop() closes the connection and reports nothing', async () => {
    let closed!: () => void;
    const serverSawClose = new Promise<void>((r) => (closed = r));
    respond = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{}}\n');
      req.socket.once('close', closed);
    };
    let reported = false;
    const events: string[] = [];
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const handle = await watchStream(api.kc, { path: '/api/v1/nodes', query: {}, inactivityTimeoutMs: 60_000 }, (t) => {
      events.push(t);
      first();
    }, () => (reported = true));
    await gotFirst;
    handle.stop();
    await serverSawClose;
    expect(reported, 'onDone after stop()').to.equal(false);
    expect(events).to.deep.equal(['ADDED']);
  });
});
