// The process's one Prometheus registry, separate from prom-client's global one so that only what we
// define (plus default process metrics) is exposed on /metrics. Metric helpers return the already
// registered metric when called twice with the same name, so modules can be loaded in any order
// and tests can build many informers/queues without "already registered" errors.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

/** Seconds buckets from 1 ms to ~17 min, the spread of API calls, reconciles and queue waits. */
export const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1000];

interface MetricSpec<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
}

function existing<T>(name: string, type: abstract new (...args: never[]) => T): T | undefined {
  const m = metricsRegistry.getSingleMetric(name);
  if (m === undefined) return undefined;
  if (!(m instanceof type)) throw new Error(`Metric ${name} is already registered with another type`);
  return m;
}

export function counter<L extends string>(spec: MetricSpec<L>): Counter<L> {
  return existing<Counter<L>>(spec.name, Counter) ?? new Counter({ ...spec, labelNames: [...spec.labelNames], registers: [metricsRegistry] });
}

export function gauge<L extends string>(spec: MetricSpec<L>): Gauge<L> {
  return existing<Gauge<L>>(spec.name, Gauge) ?? new Gauge({ ...spec, labelNames: [...spec.labelNames], registers: [metricsRegistry] });
}

export function histogram<L extends string>(spec: MetricSpec<L> & { buckets?: number[] }): Histogram<L> {
  return (
    existing<Histogram<L>>(spec.name, Histogram) ??
    new Histogram({ ...spec, labelNames: [...spec.labelNames], buckets: spec.buckets ?? DURATION_BUCKETS, registers: [metricsRegistry] })
  );
}

/** Current value of one labelled counter or gauge series (sum over unnamed labels); 0 when never set. */
export async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = metricsRegistry.getSingleMetric(name);
  if (!m) return 0;
  const data = await m.get();
  return data.values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((sum, v) => sum + v.value, 0);
}
