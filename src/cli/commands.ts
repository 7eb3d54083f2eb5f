// The product's commands and the runner both entries share: `src/cli/main.ts` (what the image
// ships) and `dev/cli.ts` (a checkout: the same commands plus the local cluster, demo and fleet).
import { UsageError } from './usage-error.ts';

export type Command = { summary: string; run: (argv: string[]) => Promise<number> };
export type Commands = Record<string, Command>;

export const PRODUCT_COMMANDS: Commands = {
  agent: {
    summary: 'the node agent: --node-name N [--sysfs-root /host/sys] [--backend sysfs|exec] [--podresources-socket P]',
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
};

function usage(commands: Commands): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`);
  return ['Usage: mdev-operator <command> [flags]', '', 'Commands:', ...lines, '',
    'Common flags: --kubeconfig PATH, --namespace NS (default mdev-operator-system), --log-level LEVEL', ''].join('\n');
}

export async function runCli(commands: Commands, argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage(commands));
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`mdev-operator: unknown command '${name}'\n\n${usage(commands)}`);
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
