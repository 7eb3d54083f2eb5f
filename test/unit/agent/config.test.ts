import { expect } from 'chai';
import { parseAgentConfig } from '../../../src/cli/agent-flags.ts';
import { parseDuration } from '../../../src/cli/flags.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';

function usageError(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseAgentConfig(argv, env);
  } catch (err) {
    expect(err).to.be.instanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('agent configuration (flags and env, validated at start)', () => {
  it('applies the documented defaults', () => {
    const c = parseAgentConfig(['--node-name', 'worker-1'], {});
    expect(c).to.deep.include({
      nodeName: 'worker-1',
      sysfsRoot: '/host/sys',
      backend: 'sysfs',
      namespace: 'mdev-operator-system',
      resyncIntervalMs: 60_000,
      leaseDurationMs: 40_000,
      leaseRenewMs: 10_000,
      metricsPort: 8080,
      healthPort: 8081,
      logLevel: 'info',
      podResourcesUnreadyAfterMs: 180_000,
    });
    expect(c.podResourcesSocket).to.equal(undefined);
    expect(c, 'no owner unless the chart names one').to.not.have.property('ownerConfigMap');
  });

  it('takes the node name and namespace from NODE_NAME and POD_NAMESPACE; flags win', () => {
    expect(parseAgentConfig([], { NODE_NAME: 'n1', POD_NAMESPACE: 'ops' })).to.deep.include({ nodeName: 'n1', namespace: 'ops' });
    expect(parseAgentConfig(['--node-name', 'n2'], { NODE_NAME: 'n1' }).nodeName).to.equal('n2');
  });

  it('parses every flag', () => {
    const c = parseAgentConfig([
      '--node-name', 'n', '--sysfs-root', '/s', '--mdevctl-root', '/m', '--backend', 'exec', '--exec-command', '/bin/v',
      '--podresources-socket', '/k.sock', '--namespace', 'x', '--kubeconfig', '/kc', '--context', 'prod', '--resync-interval', '2m',
      '--lease-duration', '30s', '--lease-renew', '500ms', '--metrics-port', '0', '--health-port', '9000', '--log-level', 'debug',
      '--podresources-unready-after', '5m', '--owner-configmap', 'rel-mdev-operator-owner',
    ], {});
    expect(c).to.deep.equal({
      nodeName: 'n', sysfsRoot: '/s', mdevctlRoot: '/m', backend: 'exec', execCommand: '/bin/v', nvmlHelper: undefined, podResourcesSocket: '/k.sock',
      podResourcesUnreadyAfterMs: 300_000, namespace: 'x', ownerConfigMap: 'rel-mdev-operator-owner', kubeconfig: '/kc', context: 'prod', resyncIntervalMs: 120_000, leaseDurationMs: 30_000, leaseRenewMs: 500,
      metricsPort: 0, healthPort: 9000, logLevel: 'debug',
    });
  });

  it('takes --backend nvml with the image\'s helper, or --nvml-helper / MDEV_NVML_HELPER', () => {
    expect(parseAgentConfig(['--node-name', 'n', '--backend', 'nvml'], {})).to.deep.include({ backend: 'nvml', nvmlHelper: undefined });
    expect(parseAgentConfig(['--node-name', 'n', '--backend', 'nvml', '--nvml-helper', '/opt/h'], {}).nvmlHelper).to.equal('/opt/h');
    expect(parseAgentConfig(['--node-name', 'n', '--backend', 'nvml'], { MDEV_NVML_HELPER: '/env/h' }).nvmlHelper).to.equal('/env/h');
  });

  it('names the flag of every bad value', () => {
    expect(usageError([])).to.match(/^--node-name is required/);
    expect(usageError(['--node-name', 'Bad_Name'])).to.match(/^--node-name must be a valid Node name/);
    expect(usageError(['--node-name', 'n', '--backend', 'nvidia'])).to.match(/^--backend must be one of sysfs, exec, nvml, simulated/);
    expect(usageError(['--node-name', 'n', '--nvml-helper', '/h'])).to.match(/^--nvml-helper is only used with --backend nvml \(the backend is sysfs\)/);
    expect(usageError(['--node-name', 'n', '--resync-interval', 'soon'])).to.match(/^--resync-interval must be a duration/);
    expect(usageError(['--node-name', 'n', '--podresources-unready-after', '10ms'])).to.match(/^--podresources-unready-after must be a duration of at least 1000 ms/);
    expect(usageError(['--node-name', 'n', '--owner-configmap', 'Owner_CM'])).to.match(/^--owner-configmap must be a ConfigMap name/);
    expect(usageError(['--node-name', 'n', '--metrics-port', '70000'])).to.match(/^--metrics-port must be a port number/);
    expect(usageError(['--node-name', 'n', '--log-level', 'loud'])).to.match(/^--log-level must be one of/);
    expect(usageError(['--node-name', 'n', '--backend', 'exec'])).to.match(/^--exec-command is required with --backend exec/);
    expect(usageError(['--node-name', 'n', '--lease-renew', '40s'])).to.match(/^--lease-renew .* must be shorter than --lease-duration/);
    expect(usageError(['--node-name', 'n', '--nodename', 'x'])).to.match(/--nodename/);
  });

  it('parses durations with units or as seconds', () => {
    expect(parseDuration('60s')).to.equal(60_000);
    expect(parseDuration('1.5m')).to.equal(90_000);
    expect(parseDuration('250ms')).to.equal(250);
    expect(parseDuration('2h')).to.equal(7_200_000);
    expect(parseDuration('10')).to.equal(10_000);
    expect(parseDuration('-1s')).to.equal(undefined);
    expect(parseDuration('1d')).to.equal(undefined);
  });
});
