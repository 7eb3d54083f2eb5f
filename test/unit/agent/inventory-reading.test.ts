import { expect } from 'chai';
import { InventoryReading } from '../../../src/agent/inventory-reading.ts';
import { isDevice, type CompatBackend, type CompatSubject, type TestVerdict, type VersionRead } from '../../../src/compat/backend.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { buildThreeVendorTree } from '../sysfs/fixtures.ts';

/** A driver stand-in that logs when each device's read starts and ends; one read can wait or throw. */
class LoggingDriver implements CompatBackend {
  readonly name = 'simulated' as const;
  readonly log: string[] = [];
  hold: { id: string; until: Promise<void> } | undefined;
  failOn: string | undefined;

  async readVersion(subject: CompatSubject): Promise<VersionRead> {
    if (!isDevice(subject)) return { migratable: false, reason: 'type slots are not read here' };
    if (subject.id === this.failOn) throw new Error(`read of ${subject.id} failed`);
    if (this.hold?.id === subject.id) await this.hold.until;
    this.log.push(`read ${subject.id}`);
    return { migratable: true, version: `v;${subject.id}` };
  }

  async test(): Promise<TestVerdict> {
    return { accepted: false, reason: 'not used' };
  }
}

describe('agent inventory reading: devices handed on as their versions are read', () => {
  let tree: FakeTree;
  beforeEach(() => { tree = buildThreeVendorTree(); });
  afterEach(() => tree.dispose());

  it('hands on the first device while the read of the second still waits, and each device only after its own read', async () => {
    const driver = new LoggingDriver();
    const io = new FakeSysfs(tree);
    const probe = new InventoryReading({ layout: tree.layout, io, backend: new LoggingDriver() });
    const ids = probe.found.devices.map((d) => d.id);
    expect(ids.length).to.be.greaterThan(2);
    let release = (): void => undefined;
    driver.hold = { id: ids[1] as string, until: new Promise<void>((r) => (release = r)) };
    const reading = new InventoryReading({ layout: tree.layout, io, backend: driver });
    for await (const r of reading.devices()) {
      driver.log.push(`handed ${r.device.id}`);
      expect(r.version).to.deep.equal({ migratable: true, version: `v;${r.device.id}` });
      // The second read waits until the first device has been handed on: a reading that held
      // every device back until all were read would never get here.
      if (r.device.id === ids[0]) release();
    }
    const at = (entry: string) => driver.log.indexOf(entry);
    expect(driver.log.filter((e) => e.startsWith('handed '))).to.deep.equal(ids.map((id) => `handed ${id}`));
    for (const id of ids) expect(at(`read ${id}`), id).to.be.within(0, at(`handed ${id}`));
    expect(at(`handed ${ids[0]}`)).to.be.lessThan(at(`read ${ids[1]}`));
    expect((await reading.complete).devices.map((r) => r.device.id)).to.deep.equal(ids);
  });

  it('hands on the devices read before a failed read, then fails (and so does complete)', async () => {
    const driver = new LoggingDriver();
    const io = new FakeSysfs(tree);
    const ids = new InventoryReading({ layout: tree.layout, io, backend: new LoggingDriver() }).found.devices.map((d) => d.id);
    driver.failOn = ids[2];
    const reading = new InventoryReading({ layout: tree.layout, io, backend: driver });
    const handed: string[] = [];
    let failure: unknown;
    try {
      for await (const r of reading.devices()) handed.push(r.device.id);
    } catch (err) {
      failure = err;
    }
    expect(handed).to.deep.equal(ids.slice(0, 2));
    expect(String(failure)).to.contain(`read of ${ids[2]} failed`);
    let completeFailure: unknown;
    await reading.complete.catch((err: unknown) => (completeFailure = err));
    expect(completeFailure).to.equal(failure);
  });
});
