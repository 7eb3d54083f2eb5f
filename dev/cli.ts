// The `mdev-operator` command line in a checkout: the product's commands plus the development
// ones (the local control plane, the demo, the simulated fleet). None of this ships in the image.
import { PRODUCT_COMMANDS, runCli, type Commands } from '../src/cli/commands.ts';

const DEV_COMMANDS: Commands = {
  cluster: {
    summary: 'up|down|status [--name N] [--nodes 1]  the local control plane (etcd, kube-apiserver, kube-controller-manager); --nodes 1 adds one real node (root)',
    run: async (argv) => (await import('./cli/cluster-command.ts')).clusterCommand(argv),
  },
  image: {
    summary: 'build|load  the product image as an OCI tar without a container engine; load imports it into the real node',
    run: async (argv) => (await import('./cli/image-command.ts')).imageCommand(argv),
  },
  agent: {
    summary: `${PRODUCT_COMMANDS.agent!.summary.replace('sysfs|exec]', 'sysfs|exec|simulated]')}`,
    run: async (argv) => (await import('./cli/agent-command.ts')).devAgentCommand(argv),
  },
  demo: {
    summary: '[--once] [--kubeconfig P]  the whole story on the local control plane (npm start); --once asserts it, exits 0/1',
    run: async (argv) => (await import('./cli/demo-command.ts')).demoCommand(argv),
  },
  fleet: {
    summary: '[--nodes N] [--profile demo|FILE] [--prefix sim]  simulated stand-in nodes running the real agent',
    run: async (argv) => (await import('./cli/fleet-command.ts')).fleetCommand(argv),
  },
};

process.exitCode = await runCli({ ...PRODUCT_COMMANDS, ...DEV_COMMANDS }, process.argv.slice(2));
