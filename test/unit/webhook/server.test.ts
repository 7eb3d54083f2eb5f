// Exercises the HTTPS server over loopback only (127.0.0.1, port 0); no cluster is involved.
import { expect } from 'chai';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { freshMaterial, applyRenewal } from '../../../src/webhook/tls/rotation.ts';
import type { TlsMaterial } from '../../../src/webhook/tls/rotation.ts';
import { WebhookServer, allowWithPatch, deny } from '../../../src/webhook/server.ts';
import type { AdmissionHandler } from '../../../src/webhook/server.ts';
import { applyAt } from './tls-fixtures.ts';
import { metricValue } from '../../../src/observability/metrics.ts';

interface Reply {
  status: number;
  body: string;
}

function request(server: WebhookServer, ca: string, path: string, opts: { method?: string; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port: server.port, path, method: opts.method ?? 'POST', ca, agent: false, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function servedFingerprint(server: WebhookServer, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca }, () => {
      resolve(new X509Certificate(socket.getPeerX509Certificate()!.raw).fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

const review = (uid: string, object: unknown = {}): string =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid, kind: { group: '', version: 'v1', kind: 'ConfigMap' }, resource: { group: '', version: 'v1', resource: 'configmaps' }, operation: 'CREATE', object },
  });

describe('webhook HTTPS server (loopback)', () => {
  let material: TlsMaterial;
  let server: WebhookServer;
  let aborted: AbortSignal | undefined;
  let onHeld: ((release: () => void) => void) | undefined;

  const handlers: Record<string, AdmissionHandler> = {
    '/validate-test': (req) => ((req.object as { deny?: boolean }).deny ? deny(`ConfigMap ${req.uid} is not allowed`) : { allowed: true }),
    '/mutate-test': () => allowWithPatch([{ op: 'add', path: '/metadata/labels/x', value: 'y' }]),
    '/validate-throws': () => {
      throw new Error('engine exploded');
    },
    '/validate-slow': (_req, ctx) =>
      new Promise((resolve) => {
        aborted = ctx.signal;
        ctx.signal.addEventListener('abort', () => resolve({ allowed: true }));
      }),
    '/validate-held': () => new Promise((resolve) => onHeld?.(() => resolve({ allowed: true }))),
  };

  before(async () => {
    material = await freshMaterial({ ...applyAt(0), now: new Date() });
    server = await WebhookServer.listen({ port: 0, host: '127.0.0.1', tls: material, handlers, maxBodyBytes: 4096, requestTimeoutMs: 200 });
  });

  after(async () => {
    await server.close(100);
  });

  it('listens on the port the OS picked when asked for port 0', () => {
    expect(server.port).to.be.greaterThan(0);
  });

  it('answers /healthz over TLS verified against the CA', async () => {
    expect(await request(server, material.caBundlePem, '/healthz', { method: 'GET' })).to.deep.equal({ status: 200, body: 'ok' });
  });

  it('routes a review to its handler and returns the verdict with the request uid', async () => {
    const denied = await request(server, material.caBundlePem, '/validate-test', { body: review('u-1', { deny: true }) });
    expect(denied.status).to.equal(200);
    expect(JSON.parse(denied.body)).to.deep.equal({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u-1', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'ConfigMap u-1 is not allowed' } },
    });
    const patched = JSON.parse((await request(server, material.caBundlePem, '/mutate-test', { body: review('u-2') })).body);
    expect(patched.response).to.include({ uid: 'u-2', allowed: true, patchType: 'JSONPatch' });
  });

  it('rejects unknown paths (404), wrong methods (405), non-JSON (400) and non-reviews (400)', async () => {
    expect((await request(server, material.caBundlePem, '/validate-nope', { body: review('u') })).status).to.equal(404);
    expect((await request(server, material.caBundlePem, '/validate-test', { method: 'GET' })).status).to.equal(405);
    expect((await request(server, material.caBundlePem, '/validate-test', { body: '{' })).status).to.equal(400);
    const wrong = await request(server, material.caBundlePem, '/validate-test', { body: JSON.stringify({ kind: 'Pod' }) });
    expect(wrong.status).to.equal(400);
    expect(wrong.body).to.match(/not an admission.k8s.io\/v1 AdmissionReview/);
  });

  it('counts requests by route and status code under controller-runtime names; unknown routes share one label', async () => {
    const count = (webhook: string, code: string) => metricValue('controller_runtime_webhook_requests_total', { webhook, code });
    const [ok, unknown] = [await count('/validate-test', '200'), await count('unknown', '404')];
    await request(server, material.caBundlePem, '/validate-test', { body: review('m-1') });
    await request(server, material.caBundlePem, '/validate-random-scan', { body: review('m-2') });
    expect(await count('/validate-test', '200')).to.equal(ok + 1);
    expect(await count('unknown', '404')).to.equal(unknown + 1);
    expect(await metricValue('controller_runtime_webhook_requests_in_flight', { webhook: '/validate-test' })).to.equal(0);
  });

  it("keeps idle connections longer than the API server's client does (90 s), so a quiet spell costs no TLS handshake", () => {
    expect(server.nodeServer.keepAliveTimeout).to.be.greaterThan(90_000);
  });

  it('refuses a body over the size limit with 413', async () => {
    const reply = await request(server, material.caBundlePem, '/validate-test', { body: review('u', { pad: 'x'.repeat(5000) }) });
    expect(reply.status).to.equal(413);
  });

  it('turns a handler error into HTTP 500 so the failurePolicy decides', async () => {
    const reply = await request(server, material.caBundlePem, '/validate-throws', { body: review('u') });
    expect(reply).to.deep.equal({ status: 500, body: 'engine exploded' });
  });

  it('answers 500 when a handler exceeds the request timeout, and aborts its signal', async () => {
    const reply = await request(server, material.caBundlePem, '/validate-slow', { body: review('u') });
    expect(reply.status).to.equal(500);
    expect(reply.body).to.match(/exceeded 200 ms/);
    expect(aborted?.aborted).to.equal(true);
  });

  it('serves a renewed certificate to new connections after updateTls, without restarting', async () => {
    const before = await servedFingerprint(server, material.caBundlePem);
    expect(before).to.equal(server.certificateFingerprint);
    const renewed = await applyRenewal(material, { regenerate: false, rotateCa: false, reissueServing: true, reasons: [] }, { ...applyAt(0), now: new Date() });
    expect(server.updateTls(renewed)).to.equal(true);
    expect(server.updateTls(renewed)).to.equal(false);
    const after = await servedFingerprint(server, material.caBundlePem);
    expect(after).to.not.equal(before);
    expect(after).to.equal(new X509Certificate(renewed.certPem).fingerprint256);
    expect((await request(server, material.caBundlePem, '/healthz', { method: 'GET' })).status).to.equal(200);
  });

  it('refuses a certificate whose key does not match, keeping the current one', () => {
    const current = server.certificateFingerprint;
    expect(() => server.updateTls({ certPem: material.certPem, keyPem: material.caKeyPem })).to.throw(/certificate\/key pair is unusable/);
    expect(server.certificateFingerprint).to.equal(current);
  });

  it('rejects a route that is not /mutate-<name> or /validate-<name>', async () => {
    let error: unknown;
    await WebhookServer.listen({ port: 0, tls: material, handlers: { '/admit': handlers['/validate-test']! } }).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.match(/route "\/admit" must look like/);
  });

  it('lets an in-flight request finish during a graceful close', async () => {
    const other = await WebhookServer.listen({ port: 0, host: '127.0.0.1', tls: material, handlers, requestTimeoutMs: 10_000 });
    const arrived = new Promise<() => void>((resolve) => (onHeld = resolve));
    const pending = request(other, material.caBundlePem, '/validate-held', { body: review('held') });
    const release = await arrived;
    const closing = other.close(10_000);
    release();
    const reply = await pending;
    await closing;
    expect(JSON.parse(reply.body).response).to.deep.equal({ uid: 'held', allowed: true });
    let refused: unknown;
    await request(other, material.caBundlePem, '/healthz', { method: 'GET' }).catch((err: unknown) => (refused = err));
    expect((refused as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });
});
