// Every command answers `--help`, `-h` and `help <command>` with its own usage on stdout and status
// 0, under the name it was invoked by: the product's commands, the checkout's development commands
// and the kubectl plugin's. The two executables in bin/ are run as processes too.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PLUGIN_COMMANDS, PRODUCT_COMMANDS, runCli, type CliIo, type Commands } from '../../../src/cli/commands.ts';
import { CHECKOUT_COMMANDS } from '../../../dev/cli/commands.ts';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';

async function run(commands: Commands, argv: string[], program?: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (t) => (out += t), err: (t) => (err += t) };
  const code = await runCli(commands, argv, program, io);
  return { code, out, err };
}

const TABLES: [string, Commands, string][] = [
  ['the image (src/cli/main.ts)', PRODUCT_COMMANDS, 'mdev-operator'],
  ['a checkout (dev/cli.ts)', CHECKOUT_COMMANDS, 'mdev-operator'],
  ['the kubectl plugin (kubectl-mdev)', PLUGIN_COMMANDS, 'kubectl mdev'],
];

describe('CLI help', () => {
  it('offers agent, controller, explain, plan-drain; cluster, image, demo, fleet in a checkout; explain and plan-drain in kubectl', () => {
    expect(Object.keys(PRODUCT_COMMANDS).sort()).to.deep.equal(['agent', 'controller', 'explain', 'plan-drain']);
    expect(Object.keys(CHECKOUT_COMMANDS).sort()).to.deep.equal(['agent', 'cluster', 'controller', 'demo', 'explain', 'fleet', 'image', 'plan-drain']);
    expect(Object.keys(PLUGIN_COMMANDS).sort()).to.deep.equal(['explain', 'plan-drain']);
  });

  for (const [where, commands, program] of TABLES) {
    describe(where, () => {
      for (const name of Object.keys(commands)) {
        it(`${program} ${name}: --help, -h and help ${name} print its usage and exit 0`, async () => {
          const forms = [[name, '--help'], [name, '-h'], ['help', name], [name, 'ns/x', '--output', 'json', '--help']];
          const results = await Promise.all(forms.map((argv) => run(commands, argv, program)));
          for (const [i, r] of results.entries()) {
            expect(r.code, forms[i]!.join(' ')).to.equal(0);
            expect(r.err, forms[i]!.join(' ')).to.equal('');
            expect(r.out, forms[i]!.join(' ')).to.equal(results[0]!.out);
          }
          expect(results[0]!.out).to.match(new RegExp(`^Usage: ${program} ${name}[ \\n]`));
          expect(results[0]!.out.split('\n').length, 'a usage with its flags, not one line').to.be.greaterThan(3);
        });
      }

      it(`${program} --help, -h and help list the commands and exit 0; no command exits 2`, async () => {
        for (const argv of [['--help'], ['-h'], ['help']]) {
          const r = await run(commands, argv, program);
          expect(r.code).to.equal(0);
          for (const name of Object.keys(commands)) expect(r.out).to.contain(`  ${name} `);
        }
        const none = await run(commands, [], program);
        expect(none.code).to.equal(2);
        expect(none.err).to.match(new RegExp(`^Usage: ${program} <command>`));
      });
    });
  }

  it('help of an unknown command, or an unknown command, exits 2 naming it', async () => {
    for (const argv of [['help', 'nope'], ['nope', '--help']]) {
      const r = await run(CHECKOUT_COMMANDS, argv);
      expect(r.code).to.equal(2);
      expect(r.err).to.contain("unknown command 'nope'");
    }
  });

  it('the product agent offers no simulated backend; the checkout\'s does', async () => {
    expect((await run(PRODUCT_COMMANDS, ['agent', '--help'])).out).to.not.contain('simulated');
    expect((await run(CHECKOUT_COMMANDS, ['agent', '--help'])).out).to.contain('--backend sysfs|exec|nvml|simulated');
  });

  it('after `--` a --help is an argument, and a usage error points at --help', async () => {
    const r = await run(PRODUCT_COMMANDS, ['explain', '--', '--help']);
    expect(r.code).to.equal(2);
    expect(r.err).to.contain("expected exactly one <namespace>/<vmi> or <vmi>, got '--help'");
    expect(r.err).to.contain('mdev-operator explain --help shows the flags');
  });

  describe('the executables in bin/ (package.json bin)', function () {
    this.timeout(60_000);
    const exec = promisify(execFile);
    it('bin/mdev-operator.js explain --help and bin/kubectl-mdev.js plan-drain -h exit 0 with their usage', async () => {
      const a = await exec(process.execPath, [join(REPO_ROOT, 'bin/mdev-operator.js'), 'explain', '--help']);
      expect(a.stdout).to.match(/^Usage: mdev-operator explain <namespace>\/<vmi>/);
      const b = await exec(process.execPath, [join(REPO_ROOT, 'bin/kubectl-mdev.js'), 'plan-drain', '-h']);
      expect(b.stdout).to.match(/^Usage: kubectl mdev plan-drain <node>/);
    });
  });
});
