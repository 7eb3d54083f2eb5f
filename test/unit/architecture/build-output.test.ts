// What `npm run build` emits is what the image ships (the Containerfile copies dist/ whole): only
// product modules compiled from src/, never a stand-in, fake, simulator, demo, local cluster or test.
// The build runs into a temporary directory so the checkout's own dist/ is left alone.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';

const NOT_PRODUCT = /(^|\/)(dev|test|tests|bench|sim|demo|localcluster|standins?|fakes?)(\/|$)|fake|standin|simulat|\.test\./i;

function filesUnder(root: string, dir = ''): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = dir === '' ? e.name : posix.join(dir, e.name);
    return e.isDirectory() ? filesUnder(root, rel) : [rel];
  });
}

describe('npm run build output (what the image ships)', function () {
  this.timeout(300_000);
  let out: string;
  let files: string[];

  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'mdev-build-'));
    await promisify(execFile)(join(REPO_ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json', '--outDir', out], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    files = filesUnder(out);
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  it('holds the entry point and one compiled module per product source file', () => {
    expect(files).to.include('cli/main.js');
    const sources = filesUnder(join(REPO_ROOT, 'src')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '.js')).sort();
    expect(files.filter((f) => f.endsWith('.js')).sort()).to.deep.equal(sources);
  });

  it('contains no stand-in, fake, simulator, demo, local-cluster or test file', () => {
    expect(files.filter((f) => NOT_PRODUCT.test(f))).to.deep.equal([]);
  });

  it('refers to no module outside dist/ except packages and Node built-ins', () => {
    const outside = files.filter((f) => f.endsWith('.js')).flatMap((f) => {
      const text = readFileSync(join(out, f), 'utf8');
      const specs = [...text.matchAll(/(?:from\s*|import\s*\(\s*|import\s+)['"](\.[^'"]+)['"]/g)].map((m) => m[1] as string);
      return specs.map((s) => posix.normalize(posix.join(posix.dirname(f), s))).filter((t) => t.startsWith('..') || !files.includes(t)).map((t) => `${f} → ${t}`);
    });
    expect(outside).to.deep.equal([]);
  });
});
