// The `mdev-operator` command line as the image ships it: the controller, the agent and the
// read-only tools. A checkout runs `dev/cli.ts` instead, which adds the development commands.
import { PRODUCT_COMMANDS, runCli } from './commands.ts';

process.exitCode = await runCli(PRODUCT_COMMANDS, process.argv.slice(2));
