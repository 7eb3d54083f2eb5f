// The node selector KubeVirt v1.9 gives a migration's target virt-launcher pod, restated for the
// stand-in scheduler. Order matters, as in KubeVirt:
// 1. the template's selectors (pkg/virt-controller/services/nodeselectorrenderer.go):
//    kubevirt.io/schedulable=true, kubernetes.io/arch for a VMI naming its architecture, the KubeVirt
//    CR's developerConfiguration.nodeSelectors, then the VMI's own nodeSelector (it wins);
// 2. createTargetPod (pkg/virt-controller/watch/migration/migration.go) copies the VMIM's
//    addedNodeSelector first and the template's over it, so the VMI's selectors win a collision;
//    a host-model CPU adds the source node's host-model labels as cpu-model-migration/cpu-feature
//    selectors; the source's cpu-vendor label is required unless a vendor key is already selected.
// Pure: plain data in and out.
import type { Vmi, Vmim } from '../../../src/kubevirt/types.ts';

const HOST_MODEL_CPU = 'host-model-cpu.node.kubevirt.io/';
const HOST_MODEL_FEATURES = 'host-model-required-features.node.kubevirt.io/';
const MIGRATION_CPU = 'cpu-model-migration.node.kubevirt.io/';
const CPU_FEATURE = 'cpu-feature.node.kubevirt.io/';
const CPU_VENDOR = 'cpu-vendor.node.kubevirt.io/';

export type TargetSelector = { ok: true; nodeSelector: Record<string, string> } | { ok: false; reason: string };

export function targetPodNodeSelector(vmi: Vmi, vmim: Vmim, sourceLabels: Readonly<Record<string, string>>, clusterSelectors: Readonly<Record<string, string>> = {}): TargetSelector {
  const template: Record<string, string> = { 'kubevirt.io/schedulable': 'true' };
  if (vmi.spec.architecture) template['kubernetes.io/arch'] = vmi.spec.architecture.toLowerCase();
  Object.assign(template, clusterSelectors, vmi.spec.nodeSelector ?? {});
  const selector: Record<string, string> = { ...(vmim.spec.addedNodeSelector ?? {}), ...template };
  if (vmi.spec.domain?.cpu?.model === 'host-model') {
    let model: string | undefined;
    for (const [key, value] of Object.entries(sourceLabels)) {
      if (key.startsWith(HOST_MODEL_CPU)) {
        model = key.slice(HOST_MODEL_CPU.length);
        selector[MIGRATION_CPU + model] = value;
      } else if (key.startsWith(HOST_MODEL_FEATURES)) {
        selector[CPU_FEATURE + key.slice(HOST_MODEL_FEATURES.length)] = value;
      }
    }
    if (model === undefined) return { ok: false, reason: `unable to locate host cpu model, does not contain label "${HOST_MODEL_CPU}" with information` };
  }
  if (!Object.keys(selector).some((k) => k.startsWith(CPU_VENDOR))) {
    const vendor = Object.keys(sourceLabels).filter((k) => k.startsWith(CPU_VENDOR)).sort()[0];
    if (vendor) selector[vendor] = 'true';
  }
  return { ok: true, nodeSelector: selector };
}
