import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExecBackend, type ExecBackendConfig } from '../../../src/compat/exec-backend.ts';
import type { DiscoveredDevice } from '../../../src/sysfs/inventory.ts';

const TOOL = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'example-vendor-tool.sh');
const LOCAL = 'example;board=A;drv=1';

const device: DiscoveredDevice = {
  kind: 'mdev',
  id: '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11',
  parent: { address: '0000:41:00.4', vendorId: '10de', deviceId: '2331', driver: 'nvidia' },
  type: { id: 'nvidia-1012', name: 'GRID H100-4C', deviceApi: 'vfio-pci' },
  creationParams: [],
  sysfsPath: '/sys/devices/pci0000:40/0000:41:00.4/6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11',
};

function backend(env: Record<string, string> = {}, over: Partial<ExecBackendConfig> = {}): ExecBackend {
  return new ExecBackend({ command: '/bin/sh', args: [TOOL], env: { EXAMPLE_LOCAL_VERSION: LOCAL, ...env }, ...over });
}

describe('exec compatibility backend with the example vendor tool (stand-in for a vendor command)', () => {
  it('reads the version from the first stdout line', async () => {
    expect(await backend().readVersion(device)).to.deep.equal({ migratable: true, version: LOCAL });
  });

  it('reports exit 1 on read as not migratable with the tool reason', async () => {
    expect(await backend({ EXAMPLE_LOCAL_VERSION: '' }).readVersion(device)).to.deep.equal({
      migratable: false,
      reason: 'ENODEV: type nvidia-1012 does not support migration',
    });
  });

  it('accepts on exit 0, passing the source on stdin and the subject as JSON', async () => {
    expect(await backend().test(device, LOCAL)).to.deep.equal({ accepted: true, reason: 'compatible with local nvidia-1012' });
  });

  it('rejects on exit 1 with the reason line and its errno', async () => {
    const v = await backend().test(device, 'example;board=B;drv=1');
    expect(v).to.deep.equal({ accepted: false, errno: 'EINVAL', reason: `EINVAL: source version differs from local nvidia-1012 version ${LOCAL}` });
  });

  it('takes the optional second line kind=instance|class as the version\'s kind, and ignores any other', async () => {
    const read = (script: string) => new ExecBackend({ command: '/bin/sh', args: ['-c', script, 'tool'] }).readVersion(device);
    expect(await read('printf "v1\\nkind=instance\\n"')).to.deep.equal({ migratable: true, version: 'v1', kind: 'Instance' });
    expect(await read('printf "v1\\r\\nkind=class\\r\\n"')).to.deep.equal({ migratable: true, version: 'v1', kind: 'Class' });
    expect(await read('printf "v1\\nkind=Instance\\n"')).to.deep.equal({ migratable: true, version: 'v1' });
    expect(await read('printf "v1\\nother diagnostics\\n"')).to.deep.equal({ migratable: true, version: 'v1' });
  });

  it('treats another exit status as an error, not a verdict', async () => {
    const v = await new ExecBackend({ command: '/bin/sh', args: ['-c', 'echo broken; exit 3', 'tool'] }).test(device, LOCAL);
    expect(v.accepted).to.equal(false);
    expect(v.reason).to.equal('vendor command exited with status 3 (error, not a verdict): broken');
  });

  it('kills a hung command at the timeout and rejects', async () => {
    const v = await backend({ EXAMPLE_MODE: 'hang' }, { timeoutMs: 300 }).test(device, LOCAL);
    expect(v).to.deep.equal({ accepted: false, reason: 'vendor command failed for mdev 6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11 on 0000:41:00.4: timed out after 300 ms (killed)' });
  });

  it('kills a command flooding its output past the cap and reports it unreadable', async () => {
    const r = await backend({ EXAMPLE_MODE: 'flood' }, { maxOutputBytes: 4096 }).readVersion(device);
    expect(r).to.deep.equal({ migratable: false, reason: 'vendor command failed: output exceeded 4096 bytes (killed)' });
  });

  it('refuses hostile source strings without running the command', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'exec-spy-'));
    const marker = path.join(dir, 'ran');
    const spy = new ExecBackend({ command: '/bin/sh', args: ['-c', `echo "$1" >> ${marker}`, 'spy'] });
    try {
      for (const bad of ['x'.repeat(5000), 'a\0b', 'a\nb', 'caf\u00e9', '']) {
        const v = await spy.test(device, bad);
        expect(v.accepted).to.equal(false);
        expect(v.reason).to.match(/^source version refused before running the vendor command/);
      }
      expect(() => readFileSync(marker)).to.throw(/ENOENT/);
      await spy.test(device, 'fine');
      expect(readFileSync(marker, 'utf8')).to.equal('test\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a printed version that is not printable ASCII', async () => {
    const r = await new ExecBackend({ command: '/bin/sh', args: ['-c', 'printf "bad\\tversion\\n"', 'tool'] }).readVersion(device);
    expect(r.migratable).to.equal(false);
    expect(r).to.have.property('reason').that.include('0x09');
  });

  it('reports a command that cannot be started', async () => {
    const r = await new ExecBackend({ command: '/nonexistent/vendor-tool' }).readVersion(device);
    expect(r).to.have.property('reason').that.match(/could not run \/nonexistent\/vendor-tool/);
  });
});
