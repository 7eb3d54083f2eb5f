// The simulated backend is the sysfs backend over a FakeSysfs: the same read-and-test code path
// as production, with vendor policies standing in for the drivers.
import { FakeSysfs, type FakeSysfsOptions } from './sysfs/fake-sysfs.ts';
import type { FakeTree } from './sysfs/fake-tree.ts';
import { SysfsBackend } from '../../src/compat/sysfs-backend.ts';

export function simulatedBackend(tree: FakeTree, opts: FakeSysfsOptions = {}): SysfsBackend {
  return new SysfsBackend(new FakeSysfs(tree, opts), 'simulated');
}
