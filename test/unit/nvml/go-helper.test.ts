// The NVML helper's own Go checks are part of the test command: `go vet` and `go test` of
// helpers/nvml (unit tests on go-nvml's mock package for every path), as quality.test.ts runs tsc
// and ESLint for the TypeScript. Go's build and test caches keep a warm run short.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';

function go(args: string[]): Promise<{ code: number; out: string }> {
  const env = {
    ...process.env,
    GOFLAGS: `${process.env.GOFLAGS ?? ''} -mod=mod`.trim(),
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '1',
    // go-nvml's cgo prologue calls functions nvml.h marks deprecated: noise, not findings.
    CGO_CFLAGS: `${process.env.CGO_CFLAGS ?? '-O2 -g'} -Wno-deprecated-declarations`,
  };
  return new Promise((resolve) => {
    execFile('go', args, { cwd: join(REPO_ROOT, 'helpers', 'nvml'), env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('NVML helper (Go, helpers/nvml)', function () {
  this.timeout(600_000);
  it('passes go vet', async () => {
    const r = await go(['vet', './...']);
    expect(r.code, r.out.slice(-4000)).to.equal(0);
  });
  it('passes go test (go-nvml mock: read, test, refusals before NVML, missing and broken drivers)', async () => {
    const r = await go(['test', './...']);
    expect(r.code, r.out.slice(-4000)).to.equal(0);
    expect(r.out).to.match(/ok\s+\S+\/internal\/helper/);
  });
});
