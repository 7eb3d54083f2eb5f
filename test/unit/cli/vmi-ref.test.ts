// Which VMI `explain` looks at: `<ns>/<vmi>`, or `<vmi>` in the namespace of -n, else of the
// kubeconfig context, else `default` (kubectl's rule for a namespaced name).
import { expect } from 'chai';
import { vmiRef } from '../../../src/cli/explain-command.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';

const context = (ns: string | undefined) => () => ns;
const noKubeconfig = () => {
  throw new Error('the kubeconfig must not be read');
};

describe('explain: the VMI reference', () => {
  it('takes the namespace from <ns>/<vmi>, then -n, then the context, then default', () => {
    expect(vmiRef(['team-a/vm1'], undefined, noKubeconfig)).to.deep.equal({ namespace: 'team-a', name: 'vm1' });
    expect(vmiRef(['vm1'], 'team-b', noKubeconfig)).to.deep.equal({ namespace: 'team-b', name: 'vm1' });
    expect(vmiRef(['vm1'], undefined, context('ctx'))).to.deep.equal({ namespace: 'ctx', name: 'vm1' });
    expect(vmiRef(['vm1'], undefined, context(undefined))).to.deep.equal({ namespace: 'default', name: 'vm1' });
    expect(vmiRef(['team-a/vm1'], 'team-a', noKubeconfig)).to.deep.equal({ namespace: 'team-a', name: 'vm1' });
  });

  it('refuses two different namespaces, no VMI, two VMIs and a malformed name, each by what is wrong, before reading the kubeconfig', () => {
    expect(() => vmiRef(['team-a/vm1'], 'team-b', noKubeconfig)).to.throw(UsageError, 'the VMI team-a/vm1 and -n team-b name different namespaces; give one of them');
    expect(() => vmiRef([], undefined, noKubeconfig)).to.throw(UsageError, "expected exactly one <namespace>/<vmi> or <vmi>, got ''");
    expect(() => vmiRef(['vm1', 'vm2'], undefined, noKubeconfig)).to.throw(UsageError, "got 'vm1 vm2'");
    expect(() => vmiRef(['Team/vm1'], undefined, noKubeconfig)).to.throw(UsageError, "got 'Team/vm1'");
  });
});
