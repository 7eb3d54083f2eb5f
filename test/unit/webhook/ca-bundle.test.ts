import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { bundleContains, mergeCaBundles, splitPemCertificates } from '../../../src/webhook/tls/ca-bundle.ts';
import { generateCa } from '../../../src/webhook/tls/certs.ts';
import type { PemKeyPair } from '../../../src/webhook/tls/certs.ts';

const T0 = new Date('2030-01-01T00:00:00Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

describe('webhook CA bundles', () => {
  let oldCa: PemKeyPair;
  let newCa: PemKeyPair;

  before(async () => {
    oldCa = await generateCa('old', { now: T0, validitySeconds: 1000 });
    newCa = await generateCa('new', { now: at(500), validitySeconds: 1000 });
  });

  it('splits a concatenated bundle into its certificates, ignoring text around them', () => {
    const parts = splitPemCertificates(`# comment\n${oldCa.certPem}\n\n${newCa.certPem.trimEnd()}`);
    expect(parts).to.have.length(2);
    expect(new X509Certificate(parts[1]!).fingerprint256).to.equal(new X509Certificate(newCa.certPem).fingerprint256);
    expect(splitPemCertificates('')).to.deep.equal([]);
  });

  it('merges old and new CAs newest first, without duplicates', () => {
    const merged = mergeCaBundles([oldCa.certPem, newCa.certPem + oldCa.certPem, newCa.certPem], at(600));
    const subjects = splitPemCertificates(merged).map((pem) => new X509Certificate(pem).subject);
    expect(subjects).to.have.length(2);
    expect(subjects[0]).to.match(/^CN=new@/);
    expect(subjects[1]).to.match(/^CN=old@/);
  });

  it('gives byte-identical output whatever the input order, so replicas converge', () => {
    expect(mergeCaBundles([oldCa.certPem, newCa.certPem], at(600))).to.equal(mergeCaBundles([newCa.certPem, oldCa.certPem], at(600)));
  });

  it('drops a CA once it has expired', () => {
    const merged = mergeCaBundles([oldCa.certPem, newCa.certPem], at(1000));
    expect(bundleContains(merged, newCa.certPem)).to.equal(true);
    expect(bundleContains(merged, oldCa.certPem)).to.equal(false);
  });

  it('reports membership by fingerprint', () => {
    expect(bundleContains(oldCa.certPem + newCa.certPem, newCa.certPem)).to.equal(true);
    expect(bundleContains(oldCa.certPem, newCa.certPem)).to.equal(false);
  });
});
