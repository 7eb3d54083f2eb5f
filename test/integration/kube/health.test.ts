import { expect } from 'chai';
import { HealthServer } from '../../../src/observability/health.ts';
import { counter } from '../../../src/observability/metrics.ts';

describe('HealthServer (loopback HTTP, no cluster needed)', () => {
  let server: HealthServer;
  let base: string;
  let synced = false;

  before(async () => {
    server = new HealthServer({ port: 0, host: '127.0.0.1' });
    server.addReadinessCheck('informers-synced', () => synced);
    server.addReadinessCheck('tls', () => {
      throw new Error('certificate not loaded');
    });
    const port = await server.listen();
    expect(port).to.be.greaterThan(0);
    base = `http://127.0.0.1:${port}`;
  });

  after(() => server.close());

  it('answers /healthz while the process is alive', async () => {
    const res = await fetch(`${base}/healthz`);
    expect(res.status).to.equal(200);
  });

  it('reports each failing readiness check by name', async () => {
    let res = await fetch(`${base}/readyz`);
    expect(res.status).to.equal(503);
    const body = await res.text();
    expect(body).to.include('[-]informers-synced failed');
    expect(body).to.include('[-]tls failed: certificate not loaded');
    synced = true;
    server.addReadinessCheck('tls', () => true);
    res = await fetch(`${base}/readyz`);
    expect(res.status).to.equal(200);
    expect(await res.text()).to.include('[+]informers-synced ok');
  });

  it('serves our metrics and the default process metrics', async () => {
    counter({ name: 'health_test_probe_total', help: 'test', labelNames: [] }).inc();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.include('health_test_probe_total 1');
    expect(text).to.include('process_cpu_user_seconds_total');
  });

  it('closes gracefully and frees the port', async () => {
    const other = new HealthServer({ port: 0, host: '127.0.0.1' });
    const port = await other.listen();
    await other.close();
    let refused = false;
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`);
    } catch {
      refused = true;
    }
    expect(refused).to.equal(true);
  });
});
