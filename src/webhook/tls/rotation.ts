// When and how the webhook's TLS material is renewed. `planRenewal` is pure (plain data in, a plan
// out); `applyRenewal` carries a plan out by generating keys and certificates.
//
// Invariant that keeps admission working through every step: the API server only ever sees a
// serving certificate signed by a CA that is already in the `caBundle` it trusts.
//  - Serving renewal: the new certificate is signed by the same CA, so the bundle is unchanged.
//  - CA renewal: step 1 adds the new CA to the bundle (old CA kept) and makes it the signer, but
//    keeps the old serving certificate; step 2, once the bundle is published to every webhook
//    configuration and `caPropagationSeconds` have passed, issues a serving certificate from the
//    new CA; the old CA leaves the bundle when it expires.
import { z } from 'zod';
import { CLOCK_SKEW_ALLOWANCE_SECONDS, coversIdentity, generateCa, isSignedBy, issueServingCert, keyMatchesCertificate, needsRotation, parseCertificate } from './certs.ts';
import type { PemKeyPair, ServingIdentity } from './certs.ts';
import { mergeCaBundles, splitPemCertificates } from './ca-bundle.ts';

/** Everything the webhook Secret holds. */
export interface TlsMaterial {
  /** Trusted CAs, newest first: what `caBundle` must contain. */
  caBundlePem: string;
  /** Private key of the signing CA, which is the bundle entry this key belongs to. */
  caKeyPem: string;
  certPem: string;
  keyPem: string;
}

const DAY = 24 * 3600;

export const tlsPolicySchema = z
  .object({
    caValiditySeconds: z.number().int().positive().describe('Lifetime of a generated CA.'),
    caRenewBeforeSeconds: z.number().int().nonnegative().describe('Start a CA rotation when less than this remains.'),
    servingValiditySeconds: z.number().int().positive().describe('Lifetime of a serving certificate.'),
    servingRenewBeforeSeconds: z.number().int().nonnegative().describe('Renew the serving certificate when less than this remains.'),
    caPropagationSeconds: z
      .number()
      .int()
      .nonnegative()
      .describe('How long a new CA sits in the published caBundle before it signs serving certificates (API server informer lag).'),
  })
  .refine((p) => p.servingRenewBeforeSeconds < p.servingValiditySeconds, {
    message: 'servingRenewBeforeSeconds must be less than servingValiditySeconds, or every pass would renew the certificate',
  })
  .refine((p) => p.caRenewBeforeSeconds < p.caValiditySeconds, {
    message: 'caRenewBeforeSeconds must be less than caValiditySeconds, or every pass would rotate the CA',
  })
  .refine((p) => p.caRenewBeforeSeconds > p.servingRenewBeforeSeconds + p.caPropagationSeconds, {
    message: 'caRenewBeforeSeconds must exceed servingRenewBeforeSeconds + caPropagationSeconds, so a new CA is trusted before any serving certificate needs it',
  });

export type TlsPolicy = z.infer<typeof tlsPolicySchema>;

/** CA 10 years (rotated with 1 year left); serving certificate 90 days (renewed with 30 left). */
export const DEFAULT_TLS_POLICY: TlsPolicy = {
  caValiditySeconds: 3650 * DAY,
  caRenewBeforeSeconds: 365 * DAY,
  servingValiditySeconds: 90 * DAY,
  servingRenewBeforeSeconds: 30 * DAY,
  caPropagationSeconds: 300,
};

export interface RenewalContext {
  now: Date;
  policy: TlsPolicy;
  identity: ServingIdentity;
  /** True when every webhook configuration's caBundle already equals `material.caBundlePem`. */
  caBundlePublished: boolean;
}

export interface RenewalPlan {
  /** Discard everything and start over (no material, or material that cannot be used). */
  regenerate: boolean;
  rotateCa: boolean;
  reissueServing: boolean;
  /** Why, for logs and events. */
  reasons: string[];
}

const NOTHING: RenewalPlan = { regenerate: false, rotateCa: false, reissueServing: false, reasons: [] };

export function planRenewal(material: TlsMaterial | undefined, ctx: RenewalContext): RenewalPlan {
  if (!material) return { ...NOTHING, regenerate: true, reasons: ['no TLS material stored yet'] };
  const problem = unusableReason(material);
  if (problem) return { ...NOTHING, regenerate: true, reasons: [problem] };

  const { now, policy } = ctx;
  const signer = signingCa(material);
  const reasons: string[] = [];
  const rotateCa = needsRotation(signer.certPem, now, { renewBeforeSeconds: policy.caRenewBeforeSeconds });
  if (rotateCa) reasons.push('signing CA is within its renewal window');

  const urgent = servingUrgency(material, ctx);
  const due = urgent ?? servingDue(material, signer, ctx, rotateCa);
  if (!due) return { ...NOTHING, rotateCa, reasons };
  // A certificate from a CA the API server may not trust yet would break admission; wait unless
  // the current certificate is unusable anyway. The CA that signed the current certificate is
  // trusted already: admission works with it.
  const sameCa = isSignedBy(material.certPem, signer.certPem);
  const signerTrusted = !rotateCa && (sameCa || (ctx.caBundlePublished && caAgeSeconds(signer.certPem, now) >= policy.caPropagationSeconds));
  if (!urgent && !signerTrusted) return { ...NOTHING, rotateCa, reasons: [...reasons, `${due} (deferred until the new CA is published)`] };
  return { regenerate: false, rotateCa, reissueServing: true, reasons: [...reasons, due] };
}

export interface ApplyContext {
  now: Date;
  policy: TlsPolicy;
  identity: ServingIdentity;
  caCommonName: string;
}

/** Carries out `plan`; returns `material` itself when the plan is empty. */
export async function applyRenewal(material: TlsMaterial | undefined, plan: RenewalPlan, ctx: ApplyContext): Promise<TlsMaterial> {
  if (plan.regenerate || !material) return freshMaterial(ctx);
  let next = material;
  if (plan.rotateCa) {
    const ca = await generateCa(ctx.caCommonName, { now: ctx.now, validitySeconds: ctx.policy.caValiditySeconds });
    next = { ...next, caKeyPem: ca.keyPem, caBundlePem: mergeCaBundles([ca.certPem, next.caBundlePem], ctx.now) };
  }
  if (plan.reissueServing) {
    const serving = await issueServingCert(signingCa(next), ctx.identity, { now: ctx.now, validitySeconds: ctx.policy.servingValiditySeconds });
    next = { ...next, certPem: serving.certPem, keyPem: serving.keyPem, caBundlePem: mergeCaBundles([next.caBundlePem], ctx.now) };
  }
  return next;
}

/** A new CA and a serving certificate it signed. */
export async function freshMaterial(ctx: ApplyContext): Promise<TlsMaterial> {
  const ca = await generateCa(ctx.caCommonName, { now: ctx.now, validitySeconds: ctx.policy.caValiditySeconds });
  const serving = await issueServingCert(ca, ctx.identity, { now: ctx.now, validitySeconds: ctx.policy.servingValiditySeconds });
  return { caBundlePem: ca.certPem, caKeyPem: ca.keyPem, certPem: serving.certPem, keyPem: serving.keyPem };
}

/** The CA whose key is stored: the bundle entry matching `caKeyPem`. */
export function signingCa(material: TlsMaterial): PemKeyPair {
  const certPem = splitPemCertificates(material.caBundlePem).find((pem) => keyMatchesCertificate(pem, material.caKeyPem));
  if (!certPem) throw new Error('webhook TLS: no certificate in ca.crt matches ca.key; delete the webhook TLS Secret to regenerate it');
  return { certPem, keyPem: material.caKeyPem };
}

function unusableReason(material: TlsMaterial): string | undefined {
  try {
    signingCa(material);
    if (!keyMatchesCertificate(material.certPem, material.keyPem)) return 'tls.key does not belong to tls.crt';
    return undefined;
  } catch (err) {
    return `stored TLS material is unreadable: ${(err as Error).message}`;
  }
}

/** A reason to replace the serving certificate right away, whatever CA is current. */
function servingUrgency(material: TlsMaterial, ctx: RenewalContext): string | undefined {
  const cert = parseCertificate(material.certPem, 'serving certificate');
  if (ctx.now >= cert.validToDate) return 'serving certificate has expired';
  if (ctx.now < cert.validFromDate) return 'serving certificate is not valid yet';
  if (!coversIdentity(material.certPem, ctx.identity)) return 'serving certificate lacks a required subject alternative name';
  if (!splitPemCertificates(material.caBundlePem).some((ca) => isSignedBy(material.certPem, ca))) return 'serving certificate is not signed by a trusted CA';
  return undefined;
}

function servingDue(material: TlsMaterial, signer: PemKeyPair, ctx: RenewalContext, rotateCa: boolean): string | undefined {
  if (needsRotation(material.certPem, ctx.now, { renewBeforeSeconds: ctx.policy.servingRenewBeforeSeconds })) {
    return 'serving certificate is within its renewal window';
  }
  // After step 1 of a CA rotation the old CA still signed tls.crt; move to the new one in step 2.
  if (rotateCa || !isSignedBy(material.certPem, signer.certPem)) return 'serving certificate is not signed by the newest CA';
  return undefined;
}

function caAgeSeconds(caPem: string, now: Date): number {
  const created = parseCertificate(caPem, 'CA certificate').validFromDate.getTime() + CLOCK_SKEW_ALLOWANCE_SECONDS * 1000;
  return (now.getTime() - created) / 1000;
}
