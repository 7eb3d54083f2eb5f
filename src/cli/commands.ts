// The product's commands and the runner every entry shares: `src/cli/main.ts` (what the image
// ships), `src/cli/kubectl-plugin.ts` (`kubectl mdev`: the read-only tools) and `dev/cli.ts` (a
// checkout: the product's commands plus the local cluster, demo and fleet). Every command answers
// `--help`/`-h`, and `help <command>`, with its own usage on stdout and status 0.
import { UsageError } from './usage-error.ts';

export type Command = {
  summary: string;
  /** The command's own usage text, loaded on demand like the command itself. */
  usage: () => Promise<string>;
  run: (argv: string[]) => Promise<number>;
};
export type Commands = Record<string, Command>;

export const PRODUCT_COMMANDS: Commands = {
  agent: {
    summary: 'the node agent: --node-name N [--sysfs-root /host/sys] [--backend sysfs|exec|nvml] [--podresources-socket P]',
    usage: async () => (await import('./agent-flags.ts')).AGENT_USAGE,
    run: async (argv) => (await import('./agent-command.ts')).agentCommand(argv),
  },
  controller: {
    summary: '[--leader-elect=true|false] [--webhook-port 9443|0] [--probe-timeout 10s] [--workers 8]  the controller manager',
    usage: async () => (await import('./controller-flags.ts')).CONTROLLER_USAGE,
    run: async (argv) => (await import('./controller-command.ts')).controllerCommand(argv),
  },
  explain: {
    summary: "<ns>/<vmi> [-o table|json] [--probe]  every node's verdict for a VMI",
    usage: async () => (await import('./explain-command.ts')).EXPLAIN_USAGE,
    run: async (argv) => (await import('./explain-command.ts')).explainCommand(argv),
  },
  'plan-drain': {
    summary: '<node> [-o table|json] [--probe]  the target of every mdev VMI on a node, before draining it',
    usage: async () => (await import('./plan-drain-command.ts')).PLAN_DRAIN_USAGE,
    run: async (argv) => (await import('./plan-drain-command.ts')).planDrainCommand(argv),
  },
};

/** `kubectl mdev`: the read-only tools only (src/cli/kubectl-plugin.ts). */
export const PLUGIN_COMMANDS: Commands = { explain: PRODUCT_COMMANDS.explain!, 'plan-drain': PRODUCT_COMMANDS['plan-drain']! };

/** Where the runner writes; tests pass their own. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const PROCESS_IO: CliIo = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

function overview(commands: Commands, program: string): string {
  const width = Math.max(12, ...Object.keys(commands).map((n) => n.length + 1));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)} ${c.summary}`);
  return [`Usage: ${program} <command> [flags]`, '', 'Commands:', ...lines, '',
    `\`${program} <command> --help\` (or \`${program} help <command>\`) shows a command's flags.`, ''].join('\n');
}

/** A command's usage text under the name it was invoked by (`kubectl mdev explain`, not `mdev-operator explain`). */
export function usageFor(text: string, program: string): string {
  return text.replace(/^Usage: mdev-operator /m, `Usage: ${program} `);
}

/** --help or -h among the flags (not after a `--`, where arguments are taken literally). */
export function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export async function runCli(commands: Commands, argv: string[], program = 'mdev-operator', io: CliIo = PROCESS_IO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(overview(commands, program));
    return 2;
  }
  if (name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    io.out(overview(commands, program));
    return 0;
  }
  const topic = name === 'help' ? rest[0] : name;
  const command = topic === undefined ? undefined : commands[topic];
  if (!command || (name === 'help' && rest.length > 1)) {
    io.err(`${program}: unknown command '${name === 'help' ? rest.join(' ') : name}'\n\n${overview(commands, program)}`);
    return 2;
  }
  if (name === 'help' || asksForHelp(rest)) {
    io.out(usageFor(await command.usage(), program));
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    // KubeApiError's code is the HTTP status (a number), a parse error's a string.
    const code = (err as { code?: unknown }).code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      io.err(`${program} ${name}: ${(err as Error).message}\n(${program} ${name} --help shows the flags)\n`);
      return 2;
    }
    io.err(`${program} ${name}: ${failureText(err)}\n`);
    return 1;
  }
}

/**
 * An unreachable or refusing API server is the user's to fix, not a bug: one line that says what
 * failed and where to look, as kubectl prints. Anything else keeps its stack for the bug report.
 */
function failureText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (err.name === 'KubeApiError') return err.message;
  const sys = err as Error & { code?: unknown; syscall?: unknown };
  if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
    return `cannot reach the Kubernetes API server: ${err.message} (check --kubeconfig/--context, KUBECONFIG and that the cluster is up)`;
  }
  return err.stack ?? err.message;
}
