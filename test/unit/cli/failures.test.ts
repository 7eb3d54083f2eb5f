// How a command's failure reaches the user: an unreachable API server or an API refusal is one
// line naming what failed (the user fixes it, as with kubectl); a bug keeps its stack trace.
import { expect } from 'chai';
import { runCli, type CliIo, type Commands } from '../../../src/cli/commands.ts';
import { KubeApiError } from '../../../src/kube/request.ts';

async function failWith(err: unknown): Promise<{ code: number; err: string }> {
  let text = '';
  const io: CliIo = { out: () => undefined, err: (t) => (text += t) };
  const commands: Commands = { explain: { summary: '', usage: () => Promise.resolve(''), run: () => Promise.reject(err) } };
  const code = await runCli(commands, ['explain', 'ns/vm'], 'kubectl mdev', io);
  return { code, err: text };
}

describe('CLI failures', () => {
  it('an unreachable API server is one line naming the address and where to look, status 1', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect' });
    const r = await failWith(refused);
    expect(r.code).to.equal(1);
    expect(r.err).to.equal('kubectl mdev explain: cannot reach the Kubernetes API server: connect ECONNREFUSED 127.0.0.1:1 (check --kubeconfig/--context, KUBECONFIG and that the cluster is up)\n');
  });

  it("an API server's refusal is its message without a stack", async () => {
    const r = await failWith(new KubeApiError('GET', '/apis/kubevirt.io/v1/namespaces/ns/virtualmachineinstances/vm', 403, '{"kind":"Status","message":"forbidden"}'));
    expect(r.code).to.equal(1);
    expect(r.err.split('\n').filter(Boolean)).to.have.length(1);
    expect(r.err).to.contain('GET /apis/kubevirt.io/v1/namespaces/ns/virtualmachineinstances/vm failed');
  });

  it('anything else keeps its stack trace for the bug report', async () => {
    const r = await failWith(new TypeError('x is undefined'));
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/^kubectl mdev explain: TypeError: x is undefined\n\s+at /);
  });
});
