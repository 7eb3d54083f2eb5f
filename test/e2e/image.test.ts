// The image built without a container engine (npm run image:build), read back from its archive:
// only what production runs, and the same user, entrypoint and /app contents as the Containerfile.
import { expect } from 'chai';
import { runtimeConfig } from '../../dev/image/containerfile.ts';
import { EXTRA_BINARIES } from '../../dev/image/extra-binaries.ts';
import { inspectImage, type ImageContents } from '../../dev/image/inspect-image.ts';

describe('the product image (OCI archive built with umoci, no container engine)', () => {
  let image: ImageContents;
  before(async () => {
    image = await inspectImage(process.env.MDEV_E2E_IMAGE_ARCHIVE!);
  });

  it('holds no tests, dev/ code, simulators, demo, fake sysfs, local-cluster code or TypeScript sources', () => {
    const app = image.files.filter((f) => f.startsWith('app/') && !f.startsWith('app/node_modules/'));
    expect(app.length, 'the app layer is not empty').to.be.greaterThan(50);
    const forbidden = app.filter((f) => /^app\/(test|dev|bench|scripts|src|charts|docs)(\/|$)/.test(f)
      || /\/(localcluster|fakes?|sim|standins|demo)\//.test(f) || /(fake-|simulat|standin)/i.test(f) || /\.ts$/.test(f.replace(/\.d\.ts$/, '')));
    expect(forbidden).to.deep.equal([]);
    expect(app).to.include('app/dist/cli/main.js');
  });

  it('ships only production dependencies (no mocha, chai, typescript, eslint)', () => {
    const top = new Set(image.files.filter((f) => /^app\/node_modules\/(@[^/]+\/)?[^/@][^/]*$/.test(f)).map((f) => f.slice('app/node_modules/'.length)));
    expect(top).to.include('@kubernetes/client-node');
    for (const dev of ['mocha', 'chai', 'typescript', 'eslint', 'fast-check', 'node']) expect(top.has(dev), dev).to.equal(false);
  });

  it('runs Node.js 24 from /usr/local/bin with its shared libraries, as uid 65532', () => {
    expect(image.files).to.include.members(['usr/local/bin/node', 'etc/passwd']);
    expect(image.files.some((f) => /libstdc\+\+\.so\.6$/.test(f))).to.equal(true);
    expect(image.files.some((f) => /libc\.so\.6$/.test(f))).to.equal(true);
    expect(image.config.User).to.equal('65532:65532');
  });

  it('has the Containerfile\'s user, entrypoint, workdir, env, labels and /app entries', () => {
    const c = runtimeConfig();
    expect(image.config.User).to.equal(c.user);
    expect(image.config.Entrypoint).to.deep.equal(c.entrypoint);
    expect(image.config.WorkingDir).to.equal(c.workdir);
    expect(image.config.Env).to.include.members(c.env);
    expect(image.config.Labels).to.deep.include(c.labels);
    const appTop = [...new Set(image.files.filter((f) => f.startsWith('app/')).map((f) => f.split('/')[1]!))].sort();
    expect(appTop).to.deep.equal(c.appEntries);
  });

  it('carries every extra binary of dev/image/extra-binaries.ts in /usr/local/bin', () => {
    for (const b of EXTRA_BINARIES) expect(image.files).to.include(`usr/local/bin/${b.name}`);
    const bins = image.files.filter((f) => /^usr\/local\/bin\/[^/]+$/.test(f)).map((f) => f.slice('usr/local/bin/'.length)).sort();
    expect(bins).to.deep.equal(['node', ...EXTRA_BINARIES.map((b) => b.name)].sort());
  });
});
