// A probe flood: 1,000 distinct MdevProbes for one device created at once by 16 writers; the figures
// are the time until a watcher saw every answer, the heap growth of this process meanwhile (the
// agent under test runs in it) and the agent's peak backlog. Memory is measured here, in a
// benchmark, never bounded in a test (the mocha heap is shared).
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '../src/kube/kubeconfig.ts';
import { LABEL_NODE, probeObjectName, type MdevProbe } from '../src/api/v1alpha1/index.ts';
import { MDEV_PROBES } from '../src/controller/resources.ts';
import { informerFor } from '../src/kube/informer.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { resourcePath } from '../src/kube/resource.ts';

export interface ProbeFloodOptions {
  typeId: string;
  /** Made unique per probe. */
  sourceVersion: string;
}

/** 1,000 distinct probes of one device created by 16 concurrent writers; ends when a watcher saw every answer. */
export async function probeFlood(kc: KubeConfig, node: string, device: string, o: ProbeFloodOptions, backlog: () => number, total: number): Promise<{ probes: number; seconds: number; heapGrowthMiB: number; peakBacklog: number }> {
  const answered = new Set<string>();
  let target = Number.POSITIVE_INFINITY; // the round trips' probes are answered already
  let allAnswered!: () => void;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));
  const watcher = informerFor<MdevProbe>(kc, { resource: MDEV_PROBES, name: 'bench-probe-flood', labelSelector: `${LABEL_NODE}=${node}`, parse: (x) => x as MdevProbe });
  const check = (p: MdevProbe): void => {
    if (p.status?.observedGeneration === p.metadata.generation && p.status?.results) answered.add(p.metadata.name);
    if (answered.size >= target) allAnswered();
  };
  watcher.addHandlers({ add: check, update: (_o, p) => check(p) });
  watcher.start();
  await watcher.waitForSync();
  target = answered.size + total;
  const heapBefore = process.memoryUsage().heapUsed;
  let peakHeap = heapBefore;
  let peakBacklog = 0;
  // Sampling for the figure only; the end is the watcher's event, not a timer.
  const sampler = setInterval(() => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    peakBacklog = Math.max(peakBacklog, backlog());
  }, 50);
  const start = performance.now();
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = next++; i < total; i = next++) {
        const source = `${o.sourceVersion};flood=${i}-${randomUUID().slice(0, 8)}`;
        await kubeRequest(kc, {
          method: 'POST',
          path: resourcePath(MDEV_PROBES),
          body: { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevProbe', metadata: { name: probeObjectName(node, o.typeId, source), labels: { [LABEL_NODE]: node } }, spec: { nodeName: node, typeId: o.typeId, sourceVersion: source, devices: [device] } },
        });
      }
    }));
    if (answered.size < target) await done;
    return { probes: total, seconds: (performance.now() - start) / 1000, heapGrowthMiB: (peakHeap - heapBefore) / 2 ** 20, peakBacklog };
  } finally {
    clearInterval(sampler);
    await watcher.stop();
  }
}
