// The Containerfile, parsed. `npm run image:build` takes the runtime stage's user, entrypoint,
// working directory, environment and labels from it, so the image built without an engine and the
// one an engine builds from the Containerfile cannot drift apart on those; a test compares the
// files of both (the COPY list against the built image's /app).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../localcluster/paths.ts';

export interface Instruction { op: string; args: string }
export interface Stage { from: string; name: string | undefined; instructions: Instruction[] }

/** Instructions with line continuations joined and comments dropped. */
export function parseInstructions(text: string): Instruction[] {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n\s*/g, ' ');
  return joined.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    return { op: m[1]!.toUpperCase(), args: m[2]! };
  });
}

export function parseStages(instructions: Instruction[]): Stage[] {
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'ARG' && out.length === 0) {
      const [k, v = ''] = ins.args.split('=');
      args.set(k!, v);
    } else if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      const from = m[1]!.replace(/\$\{(\w+)\}/g, (_, k: string) => args.get(k) ?? '');
      out.push({ from, name: m[2], instructions: [] });
    } else {
      out.at(-1)?.instructions.push(ins);
    }
  }
  return out;
}

export function readContainerfile(file = join(REPO_ROOT, 'Containerfile')): Stage[] {
  return parseStages(parseInstructions(readFileSync(file, 'utf8')));
}

export interface RuntimeConfig {
  user: string;
  entrypoint: string[];
  workdir: string;
  env: string[];
  labels: Record<string, string>;
  /** Destinations (relative to workdir) of the runtime stage's COPY lines, plus node_modules from its `npm ci`. */
  appEntries: string[];
}

/** The runtime (last) stage's image configuration. */
export function runtimeConfig(stages: Stage[] = readContainerfile()): RuntimeConfig {
  const runtime = stages.at(-1)!;
  const ops = (op: string) => runtime.instructions.filter((i) => i.op === op).map((i) => i.args);
  const env = ops('ENV').map((e) => e.replace(/\s+/, '=').replace('==', '='));
  const labels: Record<string, string> = {};
  for (const l of ops('LABEL')) for (const m of l.matchAll(/([\w.-]+)="([^"]*)"/g)) labels[m[1]!] = m[2]!;
  const appEntries = ops('COPY').flatMap((c) => {
    const parts = c.split(/\s+/).filter((x) => !x.startsWith('--'));
    const dest = parts.at(-1)!;
    if (dest.startsWith('/')) return []; // outside the workdir: extra binaries, not /app
    return dest === './' ? parts.slice(0, -1) : [dest];
  }).map((e) => e.replace(/\/$/, ''));
  if (ops('RUN').some((r) => /\bnpm ci\b/.test(r))) appEntries.push('node_modules');
  return {
    user: ops('USER').at(-1) ?? '0',
    entrypoint: JSON.parse(ops('ENTRYPOINT').at(-1) ?? '[]') as string[],
    workdir: ops('WORKDIR').at(-1) ?? '/',
    env, labels, appEntries: appEntries.sort(),
  };
}
