// --context on every command that talks to a cluster: parsed wherever kubectl would put it (kubectl
// hands a plugin the user's flags verbatim, after the positional arguments too), and a context the
// kubeconfig lacks is a usage error (exit 2) naming it and the available ones, before any request.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLUGIN_COMMANDS, PRODUCT_COMMANDS, runCli, type CliIo } from '../../../src/cli/commands.ts';
import { parseAgentConfig } from '../../../src/cli/agent-flags.ts';
import { parseControllerConfig } from '../../../src/cli/controller-flags.ts';
import { parseReadOnlyFlags } from '../../../src/cli/flags.ts';

/** Two contexts on a loopback port where nothing listens: a selection error must come before any request. */
function twoContexts(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'kc-ctx-')), 'config');
  writeFileSync(path, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'dev',
    clusters: [{ name: 'nowhere', cluster: { server: 'https://127.0.0.1:1' } }],
    users: [{ name: 'u', user: { token: 't' } }],
    contexts: ['dev', 'prod'].map((name) => ({ name, context: { cluster: 'nowhere', user: 'u' } })),
  }));
  return path;
}

describe('--context', () => {
  it('explain and plan-drain read --context NAME and --context=NAME before or after the positional', () => {
    for (const argv of [['ns/vmi', '--context', 'prod'], ['--context=prod', 'ns/vmi'], ['ns/vmi', '-o', 'json', '--context=prod']]) {
      const { values, positionals } = parseReadOnlyFlags(argv);
      expect(values.context, argv.join(' ')).to.equal('prod');
      expect(positionals, argv.join(' ')).to.deep.equal(['ns/vmi']);
    }
    expect(parseReadOnlyFlags(['ns/vmi']).values.context).to.equal(undefined);
  });

  it('the agent and the controller take --context into their config; absent, none is set', () => {
    expect(parseAgentConfig(['--node-name', 'n', '--context', 'prod'], {}).context).to.equal('prod');
    expect(parseControllerConfig(['--context=prod'], {}).context).to.equal('prod');
    expect(parseControllerConfig([], {})).to.not.have.property('context');
    expect(parseControllerConfig(['--context='], {}), 'empty = the current-context, as in kubectl').to.not.have.property('context');
  });

  for (const [program, commands, argv] of [
    ['kubectl mdev', PLUGIN_COMMANDS, ['explain', 'ns/vmi', '--context', 'staging']],
    ['kubectl mdev', PLUGIN_COMMANDS, ['plan-drain', 'node-1', '--context=staging']],
    ['mdev-operator', PRODUCT_COMMANDS, ['controller', '--context', 'staging']],
    ['mdev-operator', PRODUCT_COMMANDS, ['agent', '--node-name', 'n', '--context', 'staging']],
  ] as const) {
    it(`${program} ${argv[0]} with an unknown --context exits 2 naming it and the available contexts`, async () => {
      const kubeconfig = twoContexts();
      let out = '';
      let err = '';
      const io: CliIo = { out: (t) => (out += t), err: (t) => (err += t) };
      const code = await runCli(commands, [...argv, '--kubeconfig', kubeconfig], program, io);
      expect(code).to.equal(2);
      expect(out).to.equal('');
      expect(err).to.contain(`${program} ${argv[0]}: --context staging: no context named "staging" in --kubeconfig ${kubeconfig}; available contexts: dev, prod`);
    });
  }

  it('every cluster command documents --context and --kubeconfig in its --help', async () => {
    for (const name of ['agent', 'controller', 'explain', 'plan-drain']) {
      const usage = await PRODUCT_COMMANDS[name]!.usage();
      expect(usage, name).to.match(/^ {2}--context NAME +the kubeconfig context to use/m);
      expect(usage, name).to.match(/^ {2}--kubeconfig PATH +else KUBECONFIG/m);
    }
  });
});
