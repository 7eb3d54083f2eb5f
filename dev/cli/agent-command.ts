// `mdev-operator agent` in a checkout: the product's agent command, plus `--backend simulated`,
// which opens a fake sysfs tree another process built (its root holds sys/ and the manifest).
import { agentCommand } from '../../src/cli/agent-command.ts';
import { layoutForRoot } from '../../src/sysfs/layout.ts';
import { SysfsBackend } from '../../src/compat/sysfs-backend.ts';
import { FakeSysfs } from '../fakes/sysfs/fake-sysfs.ts';
import { FakeTree } from '../fakes/sysfs/fake-tree.ts';

export async function devAgentCommand(argv: string[]): Promise<number> {
  return agentCommand(argv, (config) => {
    if (config.backend !== 'simulated') return {};
    const { sysRoot } = layoutForRoot(config.sysfsRoot, config.mdevctlRoot);
    const root = sysRoot.endsWith('/sys') ? sysRoot.slice(0, -'/sys'.length) : sysRoot;
    const io = new FakeSysfs(FakeTree.open(root));
    return { io, backend: new SysfsBackend(io, 'simulated') };
  });
}
