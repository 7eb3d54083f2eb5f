// The development commands a checkout adds to the product's (dev/cli.ts runs them): the local
// control plane, the product image, the demo, the simulated fleet, and the agent with
// `--backend simulated`.
import { PRODUCT_COMMANDS, type Commands } from '../../src/cli/commands.ts';

/** In a checkout the agent also takes `--backend simulated`: a fake sysfs tree another process built. */
const SIMULATED_BACKEND = `
In a checkout, --backend simulated opens a fake sysfs tree that another process built (its root
holds sys/ and the tree's manifest), with the simulated vendor drivers.
`;

export const DEV_COMMANDS: Commands = {
  cluster: {
    summary: 'up|down|status [--name N] [--nodes 1]  the local control plane (etcd, kube-apiserver, kube-controller-manager); --nodes 1 adds one real node (root)',
    usage: async () => (await import('./cluster-command.ts')).CLUSTER_USAGE,
    run: async (argv) => (await import('./cluster-command.ts')).clusterCommand(argv),
  },
  image: {
    summary: 'build|load  the product image as an OCI tar without a container engine; load imports it into the real node',
    usage: async () => (await import('./image-command.ts')).IMAGE_USAGE,
    run: async (argv) => (await import('./image-command.ts')).imageCommand(argv),
  },
  agent: {
    summary: `${PRODUCT_COMMANDS.agent!.summary.replace('sysfs|exec|nvml]', 'sysfs|exec|nvml|simulated]')}`,
    usage: async () => (await PRODUCT_COMMANDS.agent!.usage()).replace('--backend sysfs|exec|nvml ', '--backend sysfs|exec|nvml|simulated') + SIMULATED_BACKEND,
    run: async (argv) => (await import('./agent-command.ts')).devAgentCommand(argv),
  },
  demo: {
    summary: '[--once] [--kubeconfig P]  the whole story on the local control plane (npm start); --once asserts it, exits 0/1',
    usage: async () => (await import('./demo-command.ts')).DEMO_USAGE,
    run: async (argv) => (await import('./demo-command.ts')).demoCommand(argv),
  },
  fleet: {
    summary: '[--nodes N] [--profile demo|FILE] [--prefix sim]  simulated stand-in nodes running the real agent',
    usage: async () => (await import('./fleet-command.ts')).FLEET_USAGE,
    run: async (argv) => (await import('./fleet-command.ts')).fleetCommand(argv),
  },
};

/** What `npx mdev-operator` offers in a checkout. */
export const CHECKOUT_COMMANDS: Commands = { ...PRODUCT_COMMANDS, ...DEV_COMMANDS };
