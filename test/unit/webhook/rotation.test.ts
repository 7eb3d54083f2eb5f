import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { bundleContains, splitPemCertificates } from '../../../src/webhook/tls/ca-bundle.ts';
import { generateCa, isSignedBy, issueServingCert } from '../../../src/webhook/tls/certs.ts';
import { DEFAULT_TLS_POLICY, applyRenewal, freshMaterial, planRenewal, signingCa, tlsPolicySchema } from '../../../src/webhook/tls/rotation.ts';
import type { RenewalContext, TlsMaterial } from '../../../src/webhook/tls/rotation.ts';
import { IDENTITY, SHORT_POLICY, applyAt, at } from './tls-fixtures.ts';

const ctxAt = (seconds: number, caBundlePublished = true): RenewalContext => ({ now: at(seconds), policy: SHORT_POLICY, identity: IDENTITY, caBundlePublished });
const caCount = (m: TlsMaterial): number => splitPemCertificates(m.caBundlePem).length;

describe('webhook TLS rotation plan', () => {
  let fresh: TlsMaterial;

  before(async () => {
    fresh = await freshMaterial(applyAt(0));
  });

  it('asks to generate everything when nothing is stored', () => {
    expect(planRenewal(undefined, ctxAt(0))).to.include({ regenerate: true });
  });

  it('leaves fresh material alone', () => {
    expect(planRenewal(fresh, ctxAt(0))).to.deep.equal({ regenerate: false, rotateCa: false, reissueServing: false, reasons: [] });
  });

  it('renews a serving certificate in its window from the same CA, leaving the bundle unchanged', async () => {
    expect(planRenewal(fresh, ctxAt(700)).reissueServing).to.equal(false);
    const plan = planRenewal(fresh, ctxAt(701));
    expect(plan).to.include({ reissueServing: true, rotateCa: false, regenerate: false });
    const next = await applyRenewal(fresh, plan, applyAt(701));
    expect(next.certPem).to.not.equal(fresh.certPem);
    expect(next.caBundlePem).to.equal(fresh.caBundlePem);
    expect(next.caKeyPem).to.equal(fresh.caKeyPem);
    expect(isSignedBy(next.certPem, fresh.caBundlePem)).to.equal(true);
    expect(planRenewal(next, ctxAt(701)).reissueServing).to.equal(false);
  });

  it('renews from the same CA even when publishing the bundle fails (the bundle does not change)', () => {
    expect(planRenewal(fresh, ctxAt(701, false)).reissueServing).to.equal(true);
  });

  it('reissues at once a certificate that lacks a required SAN', () => {
    const plan = planRenewal(fresh, { ...ctxAt(10, false), identity: { ...IDENTITY, service: 'renamed' } });
    expect(plan.reissueServing).to.equal(true);
    expect(plan.reasons.join()).to.match(/subject alternative name/);
  });

  describe('CA rotation', () => {
    let beforeRotation: TlsMaterial;
    let step1: TlsMaterial;

    before(async () => {
      // A serving certificate issued at 6900 is not due at 7001, when the CA (valid to 10000) is.
      const serving = await issueServingCert(signingCa(fresh), IDENTITY, { now: at(6900), validitySeconds: SHORT_POLICY.servingValiditySeconds });
      beforeRotation = { ...fresh, ...serving };
      step1 = await applyRenewal(beforeRotation, planRenewal(beforeRotation, ctxAt(7001)), applyAt(7001));
    });

    it('step 1 adds a new CA to the bundle and keeps the serving certificate', () => {
      expect(planRenewal(beforeRotation, ctxAt(7000)).rotateCa).to.equal(false);
      const plan = planRenewal(beforeRotation, ctxAt(7001));
      expect(plan).to.include({ rotateCa: true, reissueServing: false });
      expect(plan.reasons.join()).to.match(/deferred until the new CA is published/);
      expect(caCount(step1)).to.equal(2);
      expect(bundleContains(step1.caBundlePem, signingCa(fresh).certPem)).to.equal(true);
      expect(step1.certPem).to.equal(beforeRotation.certPem);
      expect(signingCa(step1).certPem).to.not.equal(signingCa(fresh).certPem);
      expect(new X509Certificate(splitPemCertificates(step1.caBundlePem)[0]!).subject).to.equal(new X509Certificate(signingCa(step1).certPem).subject);
    });

    it('step 2 waits until the bundle is published and the propagation time has passed', () => {
      expect(planRenewal(step1, ctxAt(7001)).reissueServing).to.equal(false);
      expect(planRenewal(step1, ctxAt(7060)).reissueServing).to.equal(false);
      expect(planRenewal(step1, ctxAt(7061, false)).reissueServing).to.equal(false);
      expect(planRenewal(step1, ctxAt(7061))).to.include({ reissueServing: true, rotateCa: false });
    });

    it('step 2 signs the serving certificate with the new CA and keeps trusting the old one', async () => {
      const step2 = await applyRenewal(step1, planRenewal(step1, ctxAt(7061)), applyAt(7061));
      expect(isSignedBy(step2.certPem, signingCa(step1).certPem)).to.equal(true);
      expect(caCount(step2)).to.equal(2);
      expect(planRenewal(step2, ctxAt(7061))).to.include({ reissueServing: false, rotateCa: false });
    });

    it('the old CA leaves the bundle once it has expired', async () => {
      const late = await applyRenewal(step1, { regenerate: false, rotateCa: false, reissueServing: true, reasons: [] }, applyAt(10_001));
      expect(caCount(late)).to.equal(1);
      expect(bundleContains(late.caBundlePem, signingCa(step1).certPem)).to.equal(true);
    });

    it('an already expired serving certificate is replaced at once, from the new CA', async () => {
      const expired = { ...beforeRotation, ...(await issueServingCert(signingCa(fresh), IDENTITY, { now: at(5000), validitySeconds: 1000 })) };
      const plan = planRenewal(expired, ctxAt(7001));
      expect(plan).to.include({ rotateCa: true, reissueServing: true });
      const next = await applyRenewal(expired, plan, applyAt(7001));
      expect(isSignedBy(next.certPem, signingCa(next).certPem)).to.equal(true);
      expect(signingCa(next).certPem).to.not.equal(signingCa(fresh).certPem);
    });
  });

  describe('unusable material is regenerated', () => {
    it('when ca.key matches no certificate in ca.crt', async () => {
      const stranger = await generateCa('stranger', { now: at(0), validitySeconds: 100 });
      const plan = planRenewal({ ...fresh, caKeyPem: stranger.keyPem }, ctxAt(0));
      expect(plan.regenerate).to.equal(true);
      expect(plan.reasons.join()).to.match(/no certificate in ca.crt matches ca.key/);
    });
    it('when tls.key does not belong to tls.crt', () => {
      expect(planRenewal({ ...fresh, keyPem: fresh.caKeyPem }, ctxAt(0))).to.include({ regenerate: true });
    });
    it('when a field is missing or garbage', () => {
      expect(planRenewal({ ...fresh, certPem: '' }, ctxAt(0)).regenerate).to.equal(true);
      expect(planRenewal({ ...fresh, caBundlePem: 'not pem' }, ctxAt(0)).regenerate).to.equal(true);
    });
    it('when the serving certificate was signed by a CA outside the bundle', async () => {
      const stranger = await generateCa('stranger', { now: at(0), validitySeconds: 10_000 });
      const foreign = await issueServingCert(stranger, IDENTITY, { now: at(0), validitySeconds: 1000 });
      const plan = planRenewal({ ...fresh, ...foreign }, ctxAt(0, false));
      expect(plan).to.include({ regenerate: false, reissueServing: true });
      expect(plan.reasons.join()).to.match(/not signed by a trusted CA/);
    });
  });

  describe('policy', () => {
    it('accepts the defaults and the short test policy', () => {
      expect(tlsPolicySchema.safeParse(DEFAULT_TLS_POLICY).success).to.equal(true);
      expect(tlsPolicySchema.safeParse(SHORT_POLICY).success).to.equal(true);
    });
    it('rejects a renew window as long as the validity, naming the fields', () => {
      const result = tlsPolicySchema.safeParse({ ...SHORT_POLICY, servingRenewBeforeSeconds: 1000 });
      expect(result.success).to.equal(false);
      expect(result.error?.message).to.match(/servingRenewBeforeSeconds must be less than servingValiditySeconds/);
    });
    it('rejects a CA renew window too short for the serving window plus propagation', () => {
      const result = tlsPolicySchema.safeParse({ ...SHORT_POLICY, caRenewBeforeSeconds: 360 });
      expect(result.error?.message).to.match(/caRenewBeforeSeconds must exceed/);
    });
  });
});
