// The demo's world as data: several vendors, the expected verdicts name real nodes with the right
// kind of hardware, and every VMI fits the node it starts on.
import { expect } from 'chai';
import { H100_TYPE, ROLES, demoScenario } from '../../../dev/demo/scenario.ts';

describe('demo scenario (plain data)', () => {
  const s = demoScenario({ prefix: 'p-' });
  const spec = (name: string) => s.nodes.find((x) => x.name === name);

  it('has one node per role, four vendors, and a note for each', () => {
    expect(s.nodes.map((x) => x.name)).to.deep.equal(ROLES.map((r) => `p-${r}`));
    expect([...new Set(s.nodes.flatMap((x) => x.gpus.map((g) => g.vendor)))].sort()).to.deep.equal(['accel', 'intel-gvt', 'mtty', 'nvidia']);
    expect(Object.keys(s.notes)).to.deep.equal(s.nodes.map((x) => x.name));
    expect(spec('p-accel-1')?.gpus[0]).to.deep.include({ typeId: 'hisi_acc-qm', params: { qp: '64', svc: 'sym+asym', agg: '2' } });
    expect(spec('p-mtty-1')?.gpus[0]).to.deep.include({ typeId: 'mtty-2' });
  });

  it('expects TypeMismatch exactly on the nodes without the H100 type, in (b) and (c)', () => {
    const withoutH100 = s.nodes.filter((x) => !x.gpus.some((g) => g.typeId === H100_TYPE)).map((x) => x.name).sort();
    expect(withoutH100).to.deep.equal(['p-accel-1', 'p-gvt-1', 'p-mtty-1']);
    for (const expected of [s.fail.expectedVerdicts, s.evict.expectedVerdicts]) {
      expect(Object.entries(expected).filter(([, v]) => v === 'TypeMismatch').map(([node]) => node).sort()).to.deep.equal(withoutH100);
    }
  });

  it('expects a verdict for every node but the source, on nodes that exist', () => {
    const names = s.nodes.map((x) => x.name);
    const source = (vmi: string) => s.vms.find((v) => v.name === vmi)?.node;
    expect(Object.keys(s.fail.expectedVerdicts).sort()).to.deep.equal(names.filter((x) => x !== source(s.fail.vmi)).sort());
    expect(Object.keys(s.evict.expectedVerdicts).sort()).to.deep.equal(names.filter((x) => x !== source(s.evict.vmi)).sort());
    expect(s.evict.expectedVerdicts[s.evict.expectedTarget]).to.equal('Compatible');
  });

  it('starts every VMI on a node with enough H100 vGPUs', () => {
    const used = new Map<string, number>();
    for (const vm of s.vms) used.set(vm.node, (used.get(vm.node) ?? 0) + vm.devices);
    for (const [node, count] of used) {
      const have = spec(node)?.gpus.filter((g) => g.typeId === H100_TYPE).reduce((sum, g) => sum + g.devices, 0) ?? 0;
      expect(count, node).to.be.at.most(have);
    }
  });
});
