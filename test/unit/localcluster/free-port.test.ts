// freePort hands out loopback ports from below the kernel's ephemeral range: a port from that range
// can be taken as the source port of any outgoing connection between the check and the server's
// bind (a suite run lost kube-apiserver's port that way).
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { belowEphemeralRange, freePort, portInUse } from '../../../dev/localcluster/processes.ts';

describe('local cluster: free ports from below the ephemeral range', () => {
  it('hands out bindable ports below the ephemeral range this machine uses', async () => {
    const range = belowEphemeralRange();
    expect(range, 'this machine leaves room below its ephemeral range').to.not.equal(undefined);
    const [low, high] = range as [number, number];
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).to.be.at.least(low).and.below(high);
      const srv = createServer();
      await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
      expect(await portInUse(port), 'taken while our server holds it').to.equal(true);
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });

  it('reads the range from the kernel file, defaults when it cannot, and gives up when nothing lies below it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'port-range-'));
    try {
      const file = join(dir, 'ip_local_port_range');
      writeFileSync(file, '40000\t60999\n');
      expect(belowEphemeralRange(file)).to.deep.equal([10_000, 40_000]);
      writeFileSync(file, '1024\t65535\n');
      expect(belowEphemeralRange(file), 'a range from 1024 leaves no room').to.equal(undefined);
      expect(belowEphemeralRange(join(dir, 'missing'))).to.deep.equal([10_000, 32_768]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
