import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import {
  CLOCK_SKEW_ALLOWANCE_SECONDS,
  coversIdentity,
  generateCa,
  isSignedBy,
  issueServingCert,
  keyMatchesCertificate,
  needsRotation,
  servingDnsNames,
  servingSubjectAltNames,
} from '../../../src/webhook/tls/certs.ts';
import type { PemKeyPair, ServingIdentity } from '../../../src/webhook/tls/certs.ts';

// Whole seconds: X.509 times have no sub-second part, which keeps boundary checks exact.
const T0 = new Date('2030-01-01T00:00:00Z');
const identity: ServingIdentity = { service: 'mdev-webhook', namespace: 'mdev-operator-system', extraDnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] };
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

describe('webhook TLS certificates', () => {
  let ca: PemKeyPair;
  let serving: PemKeyPair;

  before(async () => {
    ca = await generateCa('test-ca', { now: T0, validitySeconds: 3600 });
    serving = await issueServingCert(ca, identity, { now: T0, validitySeconds: 600 });
  });

  it('generates a CA that is self-signed, marked as a CA, and owns its key', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).to.equal(true);
    expect(cert.verify(cert.publicKey)).to.equal(true);
    expect(cert.subject).to.match(/^CN=test-ca@\d+$/);
    expect(keyMatchesCertificate(ca.certPem, ca.keyPem)).to.equal(true);
  });

  it('issues a serving certificate that verifies against the CA and not against another CA', async () => {
    const cert = new X509Certificate(serving.certPem);
    expect(cert.ca).to.equal(false);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).to.equal(true);
    expect(isSignedBy(serving.certPem, ca.certPem)).to.equal(true);
    const other = await generateCa('other-ca', { now: T0, validitySeconds: 3600 });
    expect(isSignedBy(serving.certPem, other.certPem)).to.equal(false);
    expect(keyMatchesCertificate(serving.certPem, serving.keyPem)).to.equal(true);
    expect(keyMatchesCertificate(serving.certPem, ca.keyPem)).to.equal(false);
  });

  it('carries exactly the service DNS names, the extra names and the IP SANs, for server auth', () => {
    const cert = new X509Certificate(serving.certPem);
    expect(cert.subjectAltName?.split(', ')).to.deep.equal([
      'DNS:mdev-webhook',
      'DNS:mdev-webhook.mdev-operator-system',
      'DNS:mdev-webhook.mdev-operator-system.svc',
      'DNS:mdev-webhook.mdev-operator-system.svc.cluster.local',
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    expect(cert.keyUsage).to.deep.equal(['1.3.6.1.5.5.7.3.1']);
    expect(cert.checkHost('evil.example.com')).to.equal(undefined);
    expect(coversIdentity(serving.certPem, identity)).to.equal(true);
    expect(coversIdentity(serving.certPem, { ...identity, service: 'renamed' })).to.equal(false);
    expect(coversIdentity(serving.certPem, { ...identity, ipAddresses: ['10.0.0.1'] })).to.equal(false);
  });

  it('lists the four in-cluster DNS forms of a service', () => {
    expect(servingDnsNames('a', 'b')).to.deep.equal(['a', 'a.b', 'a.b.svc', 'a.b.svc.cluster.local']);
  });

  it('rejects an IP SAN that is not an IP address, naming it', () => {
    expect(() => servingSubjectAltNames({ ...identity, ipAddresses: ['localhost'] })).to.throw(/"localhost" is not an IP address/);
  });

  it('backdates notBefore for clock skew and never outlives the CA', async () => {
    const cert = new X509Certificate(serving.certPem);
    expect(cert.validFromDate.getTime()).to.equal(T0.getTime() - CLOCK_SKEW_ALLOWANCE_SECONDS * 1000);
    expect(cert.validToDate.getTime()).to.equal(at(600).getTime());
    const long = await issueServingCert(ca, identity, { now: T0, validitySeconds: 99_999 });
    expect(new X509Certificate(long.certPem).validToDate.getTime()).to.equal(new X509Certificate(ca.certPem).validToDate.getTime());
  });

  it('refuses a non-positive validity', async () => {
    let error: unknown;
    await generateCa('x', { now: T0, validitySeconds: 0 }).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.match(/validity must be a positive number of seconds/);
  });

  describe('needsRotation', () => {
    it('keeps a certificate with more than renewBefore left', () => {
      expect(needsRotation(serving.certPem, T0, { renewBeforeSeconds: 599 })).to.equal(false);
    });
    it('keeps it when exactly renewBefore is left, rotates one second later', () => {
      expect(needsRotation(serving.certPem, at(100), { renewBeforeSeconds: 500 })).to.equal(false);
      expect(needsRotation(serving.certPem, at(101), { renewBeforeSeconds: 500 })).to.equal(true);
    });
    it('rotates an expired certificate even with renewBefore 0, and keeps a valid one', () => {
      expect(needsRotation(serving.certPem, at(599), { renewBeforeSeconds: 0 })).to.equal(false);
      expect(needsRotation(serving.certPem, at(600), { renewBeforeSeconds: 0 })).to.equal(false);
      expect(needsRotation(serving.certPem, at(601), { renewBeforeSeconds: 0 })).to.equal(true);
    });
    it('rotates a certificate that is not valid yet (clock jumped back past the skew allowance)', () => {
      expect(needsRotation(serving.certPem, at(-CLOCK_SKEW_ALLOWANCE_SECONDS), { renewBeforeSeconds: 0 })).to.equal(false);
      expect(needsRotation(serving.certPem, at(-CLOCK_SKEW_ALLOWANCE_SECONDS - 1), { renewBeforeSeconds: 0 })).to.equal(true);
    });
    it('always rotates when renewBefore exceeds the whole validity', () => {
      expect(needsRotation(serving.certPem, T0, { renewBeforeSeconds: 10_000 })).to.equal(true);
    });
    it('throws a remedy-naming error on a PEM that is not a certificate', () => {
      expect(() => needsRotation('garbage', T0, { renewBeforeSeconds: 1 })).to.throw(/not a valid PEM certificate.*delete the webhook TLS Secret/);
    });
  });
});
