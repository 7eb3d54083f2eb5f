// Type-checking and linting are part of the test command: a type error or lint finding fails it.
import { execFile } from 'node:child_process';
import { expect } from 'chai';

function run(bin: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('code quality', function () {
  this.timeout(600_000);
  it('type-checks with tsc --noEmit (strict)', async () => {
    const r = await run('node_modules/.bin/tsc', ['--noEmit', '-p', 'tsconfig.json']);
    expect(r.code, r.out.slice(0, 4000)).to.equal(0);
  });
  it('lints clean with ESLint (typescript-eslint)', async () => {
    const r = await run('node_modules/.bin/eslint', ['--max-warnings', '0', '.']);
    expect(r.code, r.out.slice(0, 4000)).to.equal(0);
  });
});
