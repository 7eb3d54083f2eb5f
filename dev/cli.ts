// The `mdev-operator` command line in a checkout: the product's commands plus the development
// ones (dev/cli/commands.ts: the local control plane, the image, the demo, the simulated fleet).
// None of this ships in the image.
import { runCli } from '../src/cli/commands.ts';
import { CHECKOUT_COMMANDS } from './cli/commands.ts';

process.exitCode = await runCli(CHECKOUT_COMMANDS, process.argv.slice(2));
