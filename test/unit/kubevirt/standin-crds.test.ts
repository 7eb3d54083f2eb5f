import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { kubevirtStandinCrds, renderKubevirtStandinCrdsYaml, STANDIN_CRDS_YAML_PATH } from '../../../dev/standins/kubevirt-crds.ts';

describe('KubeVirt stand-in CRDs', () => {
  it('use KubeVirt real group, version, kinds, plurals and short names, namespaced; only the VMI has no status subresource, as in KubeVirt', () => {
    const crds = kubevirtStandinCrds();
    expect(crds.map((c) => c.metadata.name)).to.deep.equal(['virtualmachineinstances.kubevirt.io', 'virtualmachineinstancemigrations.kubevirt.io', 'kubevirts.kubevirt.io']);
    expect(crds.map((c) => [c.spec.names.kind, c.spec.names.plural, c.spec.names.shortNames])).to.deep.equal([
      ['VirtualMachineInstance', 'virtualmachineinstances', ['vmi', 'vmis']],
      ['VirtualMachineInstanceMigration', 'virtualmachineinstancemigrations', ['vmim', 'vmims']],
      ['KubeVirt', 'kubevirts', ['kv', 'kvs']],
    ]);
    expect(crds.map((c) => c.spec.versions[0]?.subresources)).to.deep.equal([undefined, { status: {} }, { status: {} }]);
    for (const crd of crds) {
      expect(crd.spec.group).to.equal('kubevirt.io');
      expect(crd.spec.scope).to.equal('Namespaced');
      const v = crd.spec.versions[0];
      expect(v?.name).to.equal('v1');
      expect(v?.schema.openAPIV3Schema.properties.spec).to.deep.equal({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
      expect(v?.schema.openAPIV3Schema.properties.status).to.deep.equal({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
    }
  });

  it('show KubeVirt printer columns (VMI NodeName, VMIM Phase and VMI)', () => {
    const [vmi, vmim] = kubevirtStandinCrds();
    expect(vmi?.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name)).to.include.members(['Age', 'Phase', 'IP', 'NodeName', 'Ready']);
    expect(vmim?.spec.versions[0]?.additionalPrinterColumns.map((c) => c.jsonPath)).to.deep.equal(['.status.phase', '.spec.vmiName']);
  });

  it(`${STANDIN_CRDS_YAML_PATH} is up to date with the code`, () => {
    const onDisk = readFileSync(STANDIN_CRDS_YAML_PATH, 'utf8');
    const regen = "npx node --input-type=module -e \"import {renderKubevirtStandinCrdsYaml as r} from './dev/standins/kubevirt-crds.ts'; import {writeFileSync as w} from 'node:fs'; w('test/standins/kubevirt-crds.yaml', r())\"";
    expect(onDisk, `regenerate with: ${regen}`).to.equal(renderKubevirtStandinCrdsYaml());
    expect(parseAllDocuments(onDisk).map((d) => d.toJS())).to.deep.equal(kubevirtStandinCrds());
  });
});
