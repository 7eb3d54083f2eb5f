// The Containerfile, parsed (no container engine here): multi-stage, Node 24 slim runtime, only
// production dependencies, non-root numeric user, the documented entrypoint.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import { parseInstructions, parseStages, type Stage } from '../../../dev/image/containerfile.ts';
import { EXTRA_BINARIES } from '../../../dev/image/extra-binaries.ts';
import { NVML_HELPER_PATH } from '../../../src/compat/nvml-backend.ts';

const text = readFileSync(join(REPO_ROOT, 'Containerfile'), 'utf8');
const all = parseStages(parseInstructions(text));
const runtime = all.at(-1)!;
const build = all[0]!;
const ops = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op).map((i) => i.args);

describe('Containerfile (parsed, not built: no container engine in CI)', () => {
  it('has a named build stage and a separate runtime stage', () => {
    expect(all.length).to.be.greaterThanOrEqual(2);
    expect(build.name, 'the first stage is named').to.be.a('string');
    expect(runtime).to.not.equal(build);
  });

  it('builds dist/ with npm ci and npm run build in the build stage', () => {
    const runs = ops(build, 'RUN').join('\n');
    expect(runs).to.match(/\bnpm ci\b/);
    expect(runs).to.match(/\bnpm run build\b/);
  });

  it('uses a Node 24 slim base for the runtime', () => {
    expect(runtime.from).to.match(/^(docker\.io\/library\/)?node:24[.\d]*-[a-z]*-?slim$/);
  });

  it('installs production dependencies only in the runtime stage', () => {
    const runs = ops(runtime, 'RUN').join('\n');
    expect(runs).to.match(/\bnpm ci\b[^\n]*--omit=dev/);
    expect(runs).to.not.match(/npm (run )?build/);
    const copies = ops(runtime, 'COPY');
    expect(copies.some((c) => /node_modules/.test(c)), 'node_modules (with devDependencies) is not copied from the build stage').to.equal(false);
  });

  it('copies dist/ from the build stage and proto/ and crds/ from the context', () => {
    const copies = ops(runtime, 'COPY');
    expect(copies.some((c) => new RegExp(`^--from=${build.name}\\s+\\S*dist/?\\s`).test(c))).to.equal(true);
    expect(copies.some((c) => /^proto\/?\s/.test(c))).to.equal(true);
    expect(copies.some((c) => /^crds\/?\s/.test(c))).to.equal(true);
  });

  it('runs as a numeric non-root user, the uid the chart runs the controller as', () => {
    const users = ops(runtime, 'USER');
    expect(users, 'exactly one USER in the runtime stage').to.have.length(1);
    const m = /^(\d+)(?::(\d+))?$/.exec(users[0]!);
    expect(m, `USER ${users[0]} must be numeric (runAsNonRoot cannot check names)`).to.not.equal(null);
    const uid = Number(m![1]);
    expect(uid).to.be.greaterThan(0);
    const values = parse(readFileSync(join(REPO_ROOT, 'charts/mdev-operator/values.yaml'), 'utf8')) as { controller: { runAsUser: number } };
    expect(values.controller.runAsUser).to.equal(uid);
  });

  it('has the exec-form entrypoint node dist/cli/main.js', () => {
    const entry = ops(runtime, 'ENTRYPOINT');
    expect(entry).to.have.length(1);
    expect(JSON.parse(entry[0]!)).to.deep.equal(['node', 'dist/cli/main.js']);
  });

  it('builds only the real NVML helper in a Go stage and ships it where --backend nvml looks for it', () => {
    const stage = all.find((s) => s.name === 'nvml-helper');
    expect(stage, 'a stage named nvml-helper').to.not.equal(undefined);
    expect(stage!.from).to.match(/^(docker\.io\/library\/)?golang:1\.26/);
    const builds = ops(stage!, 'RUN').filter((r) => /\bgo build\b/.test(r));
    expect(builds).to.have.length(1);
    expect(builds[0]).to.match(/CGO_ENABLED=1/);
    expect(builds[0]).to.match(/\.\/cmd\/mdev-nvml-helper$/);
    expect(builds[0], 'the mock build never enters the image').to.not.match(/mock/);
    expect(ops(runtime, 'COPY')).to.include(`--from=nvml-helper /out/mdev-nvml-helper ${NVML_HELPER_PATH}`);
    expect(EXTRA_BINARIES.map((b) => `/usr/local/bin/${b.name}`), 'the engine-less image build ships it too').to.include(NVML_HELPER_PATH);
  });

  it('keeps the build context small: the ignore files admit only what is copied', () => {
    for (const f of ['.containerignore', '.dockerignore']) {
      const lines = readFileSync(join(REPO_ROOT, f), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
      expect(lines[0], `${f} starts by excluding everything`).to.equal('*');
      expect(lines).to.include.members(['!package.json', '!package-lock.json', '!src/', '!proto/', '!crds/', '!helpers/nvml/']);
      expect(lines).to.not.include('!node_modules/');
    }
  });

  it('copies every extra binary the engine-less build ships (dev/image/extra-binaries.ts) to /usr/local/bin', () => {
    const copies = ops(runtime, 'COPY');
    for (const b of EXTRA_BINARIES) {
      expect(copies.some((c) => new RegExp(`\\s/usr/local/bin/${b.name}$`).test(c)), `COPY … /usr/local/bin/${b.name}`).to.equal(true);
    }
    expect(copies.filter((c) => /\s\/usr\/local\/bin\//.test(c))).to.have.length(EXTRA_BINARIES.length);
  });
});
