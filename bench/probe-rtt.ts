// The probe round trip: an MdevProbe created → its verdict seen by a watcher, one probe at a time.
// Shared by the agent suite (the real agent) and the controller suite (the fleet's responders),
// where it is the "one probe round trip" of the cold-latency target, measured in the same run.
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '../src/kube/kubeconfig.ts';
import { LABEL_NODE, probeObjectName, type MdevProbe } from '../src/api/v1alpha1/index.ts';
import { MDEV_PROBES } from '../src/controller/resources.ts';
import { informerFor } from '../src/kube/informer.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { resourcePath } from '../src/kube/resource.ts';

export interface ProbeRoundTripOptions {
  node: string;
  /** An MdevDevice of `node` to test. */
  device: string;
  typeId: string;
  /** Made unique per probe, so no earlier answer is reused. */
  sourceVersion: string;
  count: number;
}

/** Round trips in ms, in run order. The probes stay (labelled with the node) for the caller to delete. */
export async function probeRoundTrips(kc: KubeConfig, o: ProbeRoundTripOptions): Promise<number[]> {
  const waiting = new Map<string, () => void>();
  const watcher = informerFor<MdevProbe>(kc, {
    resource: MDEV_PROBES,
    name: 'bench-probe-watcher',
    labelSelector: `${LABEL_NODE}=${o.node}`,
    parse: (x) => x as MdevProbe,
  });
  const check = (p: MdevProbe): void => {
    if (p.status?.observedGeneration === p.metadata.generation && p.status?.results?.length) waiting.get(p.metadata.name)?.();
  };
  watcher.addHandlers({ add: check, update: (_o, p) => check(p) });
  watcher.start();
  await watcher.waitForSync();
  const rtts: number[] = [];
  try {
    for (let i = 0; i < o.count; i++) {
      const source = `${o.sourceVersion};seq=${i}-${randomUUID().slice(0, 8)}`;
      const name = probeObjectName(o.node, o.typeId, source);
      const seen = new Promise<void>((resolve) => waiting.set(name, resolve));
      const start = performance.now();
      await kubeRequest(kc, {
        method: 'POST',
        path: resourcePath(MDEV_PROBES),
        body: { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe', metadata: { name, labels: { [LABEL_NODE]: o.node } }, spec: { nodeName: o.node, typeId: o.typeId, sourceVersion: source, devices: [o.device] } },
      });
      await seen;
      rtts.push(performance.now() - start);
      waiting.delete(name);
    }
  } finally {
    await watcher.stop();
  }
  return rtts;
}
