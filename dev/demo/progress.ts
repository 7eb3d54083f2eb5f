// Live output of the demo: numbered steps, indented detail lines with the seconds since the start,
// and phase changes of the demo's MdevMigrations, VMIMs and VMIs as the informers see them happen
// (so the user watches the controller, the webhook and the KubeVirt stand-in work, not a replay).
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import { parseFromWire, type MdevMigration } from '../../src/api/v1alpha1/index.ts';
import { MDEV_MIGRATIONS, VMIMS, VMIS } from '../../src/controller/resources.ts';
import { informerFor, type Informer } from '../../src/kube/informer.ts';
import { vmimPinnedHostname, parseVmi, parseVmim, type Vmi, type Vmim } from '../../src/kubevirt/types.ts';
import type { Logger } from '../../src/observability/logger.ts';

export type Write = (text: string) => void;

export class Progress {
  readonly #write: Write;
  readonly #t0: number;
  #step = 0;

  constructor(write: Write, t0 = Date.now()) {
    this.#write = write;
    this.#t0 = t0;
  }

  /** Seconds since the demo started. */
  elapsed(): number {
    return (Date.now() - this.#t0) / 1000;
  }

  step(title: string): void {
    this.#step++;
    this.#write(`\n[${this.#step}] ${title}\n`);
  }

  line(text: string): void {
    this.#write(`  ${this.elapsed().toFixed(1).padStart(5)}s  ${text}\n`);
  }

  /** Verbatim block (tables), indented to sit under the step. */
  block(text: string): void {
    this.#write(text.replace(/\n$/, '').split('\n').map((l) => `        ${l}`.trimEnd()).join('\n') + '\n');
  }

  raw(text: string): void {
    this.#write(text);
  }
}

/** Informers on the demo namespace that print every phase change; stop() ends them. */
export interface PhaseWatch {
  stop(): Promise<void>;
}

export async function watchPhases(kc: KubeConfig, namespace: string, progress: Progress, log: Logger): Promise<PhaseWatch> {
  const common = { namespace, watchTimeoutSeconds: 60, logger: log };
  const migrations: Informer<MdevMigration> = informerFor(kc, { ...common, resource: MDEV_MIGRATIONS, name: 'demo-mdevmigrations', parse: (o) => parseFromWire('MdevMigration', o, log) });
  const vmims: Informer<Vmim> = informerFor(kc, { ...common, resource: VMIMS, name: 'demo-vmims', parse: (o) => parseVmim(o, log) });
  const vmis: Informer<Vmi> = informerFor(kc, { ...common, resource: VMIS, name: 'demo-vmis', parse: (o) => parseVmi(o, log) });

  migrations.addHandlers({
    add: (m) => {
      if (m.status?.phase) progress.line(`mdevmig/${m.metadata.name}  ${migrationLine(m)}`);
    },
    update: (o, m) => {
      if (o.status?.phase !== m.status?.phase) progress.line(`mdevmig/${m.metadata.name}  ${o.status?.phase ?? '(new)'} → ${migrationLine(m)}`);
    },
  });
  // The KubeVirt stand-in walks a VMIM through seven phases: one line when it is created and one
  // with the whole path when it ends, instead of a line per phase.
  const paths = new Map<string, string[]>();
  vmims.addHandlers({
    add: (v) => progress.line(`vmim/${v.metadata.name}  created for VMI ${v.spec.vmiName}${pinned(v)}`),
    update: (o, v) => {
      const phase = v.status?.phase;
      if (!phase || o.status?.phase === phase) return;
      const path = [...(paths.get(v.metadata.name) ?? []), phase];
      paths.set(v.metadata.name, path);
      if (FINAL_VMIM_PHASES.has(phase)) progress.line(`vmim/${v.metadata.name}  ${phase} (${path.join(' → ')})`);
    },
  });
  vmis.addHandlers({
    update: (o, v) => {
      const before = o.status?.nodeName;
      const after = v.status?.nodeName;
      if (before && after && before !== after) progress.line(`vmi/${v.metadata.name}  now runs on ${after} (was ${before})`);
    },
  });
  const all = [migrations, vmims, vmis] as Informer<unknown>[];
  for (const i of all) i.start();
  await Promise.all(all.map((i) => i.waitForSync()));
  return { stop: async () => void (await Promise.all(all.map((i) => i.stop()))) };
}

const FINAL_VMIM_PHASES = new Set(['Succeeded', 'Failed']);

function pinned(v: Vmim): string {
  const node = vmimPinnedHostname(v);
  return node ? ` (addedNodeSelector ${node})` : '';
}

function migrationLine(m: MdevMigration): string {
  const s = m.status;
  // The controller's messages name the target node themselves.
  return `${s?.phase ?? '?'}${s?.message ? `: ${s.message}` : ''}`;
}
