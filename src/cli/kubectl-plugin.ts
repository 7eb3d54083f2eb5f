// `kubectl mdev <command>`: the read-only tools as a kubectl plugin. kubectl runs any executable
// named `kubectl-<name>` on PATH as `kubectl <name>` (krew's naming); package.json's `bin` installs
// `kubectl-mdev` (bin/kubectl-mdev.js), which runs this. Flags after the command reach it as given,
// and KUBECONFIG is inherited from kubectl's environment.
import { PLUGIN_COMMANDS, runCli } from './commands.ts';

process.exitCode = await runCli(PLUGIN_COMMANDS, process.argv.slice(2), 'kubectl mdev');
