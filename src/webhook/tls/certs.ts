// X.509 material for the admission webhook: a private CA and a serving certificate it signs.
// Generation uses @peculiar/x509 over WebCrypto (no hand-written ASN.1); reading and checking
// uses node:crypto's X509Certificate, which is synchronous and independent of the generator.
import 'reflect-metadata';
import { X509Certificate as NodeX509, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A certificate and its PKCS#8 private key, both PEM. */
export interface PemKeyPair {
  certPem: string;
  keyPem: string;
}

/** Who the serving certificate must be valid for. */
export interface ServingIdentity {
  service: string;
  namespace: string;
  /** Extra DNS SANs, e.g. `localhost`. */
  extraDnsNames?: readonly string[];
  /** IP SANs, e.g. `127.0.0.1` when the API server calls the webhook by `clientConfig.url`. */
  ipAddresses?: readonly string[];
}

export interface IssueOptions {
  now: Date;
  validitySeconds: number;
}

/**
 * Certificates start this far in the past so that a peer whose clock is slightly behind ours
 * (another replica, the API server) does not reject a certificate as "not yet valid".
 */
export const CLOCK_SKEW_ALLOWANCE_SECONDS = 300;

// ECDSA P-256: small keys, fast handshakes, accepted by Go's crypto/tls in every supported version.
const KEY_ALGORITHM: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** The DNS names under which in-cluster clients reach `<service>.<namespace>`. */
export function servingDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

/** Every SAN the serving certificate carries, DNS names first, de-duplicated, in a stable order. */
export function servingSubjectAltNames(identity: ServingIdentity): { dns: string[]; ip: string[] } {
  for (const ip of identity.ipAddresses ?? []) {
    if (isIP(ip) === 0) throw new Error(`webhook TLS: IP SAN "${ip}" is not an IP address; pass DNS names as extraDnsNames`);
  }
  const dns = [...servingDnsNames(identity.service, identity.namespace), ...(identity.extraDnsNames ?? [])];
  return { dns: [...new Set(dns)], ip: [...new Set(identity.ipAddresses ?? [])] };
}

/** Generates a self-signed CA that may sign end-entity certificates only (pathLen 0). */
export async function generateCa(commonName: string, opts: IssueOptions): Promise<PemKeyPair> {
  const keys = await generateKeys();
  const { notBefore, notAfter } = lifetime(opts.now, opts.validitySeconds);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    // A per-CA suffix keeps subjects distinct across CA rotations, like kube's "name@unixtime".
    name: `CN=${commonName}@${Math.floor(opts.now.getTime() / 1000)}`,
    notBefore,
    notAfter,
    signingAlgorithm: KEY_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemText(cert.toString('pem')), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Issues a serving certificate for `identity`, signed by `ca`. Its lifetime never exceeds the
 * CA's, so a rotation plan that looks only at the serving certificate stays correct.
 */
export async function issueServingCert(ca: PemKeyPair, identity: ServingIdentity, opts: IssueOptions): Promise<PemKeyPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKeyPem(ca.keyPem);
  const keys = await generateKeys();
  const window = lifetime(opts.now, opts.validitySeconds);
  const notAfter = window.notAfter < caCert.notAfter ? window.notAfter : caCert.notAfter;
  const sans = servingSubjectAltNames(identity);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${identity.service}.${identity.namespace}.svc`,
    issuer: caCert.subject,
    notBefore: window.notBefore,
    notAfter,
    signingAlgorithm: KEY_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([
        ...sans.dns.map((value) => ({ type: 'dns' as const, value })),
        ...sans.ip.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: pemText(cert.toString('pem')), keyPem: await exportKeyPem(keys.privateKey) };
}

/** Parses one PEM certificate; the error names what was being read and how to recover. */
export function parseCertificate(pem: string, what = 'certificate'): NodeX509 {
  try {
    return new NodeX509(pem);
  } catch (err) {
    throw new Error(`webhook TLS: ${what} is not a valid PEM certificate (${(err as Error).message}); delete the webhook TLS Secret to regenerate it`, { cause: err });
  }
}

export interface RotationPolicy {
  /** Renew once fewer than this many seconds of validity remain. */
  renewBeforeSeconds: number;
}

/**
 * True when `certPem` should be replaced at `now`: fewer than `renewBeforeSeconds` remain, it has
 * expired, or it is not valid yet (a clock jump; the API server would reject it just the same).
 */
export function needsRotation(certPem: string, now: Date, policy: RotationPolicy): boolean {
  const cert = parseCertificate(certPem);
  if (now < cert.validFromDate) return true;
  const remainingMs = cert.validToDate.getTime() - now.getTime();
  return remainingMs < policy.renewBeforeSeconds * 1000;
}

/** True when `certPem` was signed by the CA `caPem` (signature checked, not just names). */
export function isSignedBy(certPem: string, caPem: string): boolean {
  const cert = parseCertificate(certPem);
  const ca = parseCertificate(caPem, 'CA certificate');
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** True when the serving certificate carries at least every SAN `identity` requires. */
export function coversIdentity(certPem: string, identity: ServingIdentity): boolean {
  const cert = parseCertificate(certPem);
  const want = servingSubjectAltNames(identity);
  return want.dns.every((name) => cert.checkHost(name, { wildcards: false }) === name) && want.ip.every((ip) => cert.checkIP(ip) === ip);
}

/** True when `keyPem` is the private key of `certPem`. */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
  return parseCertificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
}

async function generateKeys(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function exportKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return pemText(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

async function importKeyPem(pem: string): Promise<webcrypto.CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), KEY_ALGORITHM, false, ['sign']);
  } catch (err) {
    throw new Error(`webhook TLS: CA private key is not a PKCS#8 ECDSA P-256 PEM key (${(err as Error).message}); delete the webhook TLS Secret to regenerate it`, { cause: err });
  }
}

function lifetime(now: Date, validitySeconds: number): { notBefore: Date; notAfter: Date } {
  if (!(validitySeconds > 0)) throw new Error(`webhook TLS: validity must be a positive number of seconds, got ${validitySeconds}`);
  return {
    notBefore: new Date(now.getTime() - CLOCK_SKEW_ALLOWANCE_SECONDS * 1000),
    notAfter: new Date(now.getTime() + validitySeconds * 1000),
  };
}

/** PEM ends with a newline, so concatenating and re-splitting bundles is byte-stable. */
function pemText(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and of fixed length, as RFC 5280 §4.1.2.2 asks
  return bytes.toString('hex');
}
