// CA trust bundles (concatenated PEM certificates), as published in a webhook's `caBundle` and the
// Secret's `ca.crt`. During a CA rotation the bundle holds the old and the new CA, so serving
// certificates signed by either are accepted while replicas and the API server catch up.
import { parseCertificate } from './certs.ts';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The PEM certificates in `bundle`, each normalized to end with a newline. */
export function splitPemCertificates(bundle: string): string[] {
  return (bundle.match(PEM_CERTIFICATE) ?? []).map((pem) => `${pem}\n`);
}

/**
 * Merges CA certificates into one bundle: duplicates (same fingerprint) collapse, CAs expired at
 * `now` drop out, newest first (by notBefore, then fingerprint for a stable order). Every replica
 * computing the same merge gets byte-identical output, so `caBundle` patches converge.
 */
export function mergeCaBundles(bundles: readonly string[], now: Date): string {
  const byFingerprint = new Map<string, { pem: string; notBefore: number }>();
  for (const pem of bundles.flatMap(splitPemCertificates)) {
    const cert = parseCertificate(pem, 'CA bundle entry');
    if (cert.validToDate <= now) continue;
    byFingerprint.set(cert.fingerprint256, { pem, notBefore: cert.validFromDate.getTime() });
  }
  return [...byFingerprint.entries()]
    .sort(([fa, a], [fb, b]) => b.notBefore - a.notBefore || fa.localeCompare(fb))
    .map(([, entry]) => entry.pem)
    .join('');
}

/** True when `bundle` contains the certificate `certPem` (compared by fingerprint). */
export function bundleContains(bundle: string, certPem: string): boolean {
  const want = parseCertificate(certPem).fingerprint256;
  return splitPemCertificates(bundle).some((pem) => parseCertificate(pem, 'CA bundle entry').fingerprint256 === want);
}
