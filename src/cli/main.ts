// The `mdev-operator` command line: one entry for the controller, the agent, the read-only tools,
// the simulators and the local control plane.
import { UsageError } from './usage-error.ts';

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

const COMMANDS: Record<string, Command> = {
  cluster: {
    summary: 'up|down|status  the local control plane (etcd, kube-apiserver, kube-controller-manager)',
    run: async (argv) => (await import('./cluster-command.ts')).clusterCommand(argv),
  },
  agent: {
    summary: 'the node agent: --node-name N [--sysfs-root /host/sys] [--backend sysfs|exec|simulated] [--podresources-socket P]',
    run: async (argv) => (await import('./agent-command.ts')).agentCommand(argv),
  },
  controller: {
    summary: '[--leader-elect=true|false] [--webhook-port 9443|0] [--probe-timeout 10s] [--workers 8]  the controller manager',
    run: async (argv) => (await import('./controller-command.ts')).controllerCommand(argv),
  },
  explain: {
    summary: "<ns>/<vmi> [-o table|json] [--probe]  every node's verdict for a VMI",
    run: async (argv) => (await import('./explain-command.ts')).explainCommand(argv),
  },
  'plan-drain': {
    summary: '<node> [-o table|json] [--probe]  the target of every mdev VMI on a node, before draining it',
    run: async (argv) => (await import('./plan-drain-command.ts')).planDrainCommand(argv),
  },
  demo: {
    summary: '[--once] [--kubeconfig P]  the whole story on the local control plane (npm start); --once asserts it, exits 0/1',
    run: async (argv) => (await import('./demo-command.ts')).demoCommand(argv),
  },
  fleet: {
    summary: '[--nodes N] [--profile demo|FILE] [--prefix sim]  simulated stand-in nodes running the real agent',
    run: async (argv) => (await import('./fleet-command.ts')).fleetCommand(argv),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ['Usage: mdev-operator <command> [flags]', '', 'Commands:', ...lines, '',
    'Common flags: --kubeconfig PATH, --namespace NS (default mdev-operator-system), --log-level LEVEL', ''].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`mdev-operator: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`mdev-operator ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`mdev-operator ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
