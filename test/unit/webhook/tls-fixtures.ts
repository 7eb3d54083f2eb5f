// Shared inputs for the webhook TLS unit tests: a short-lived policy and fixed instants.
import type { ServingIdentity } from '../../../src/webhook/tls/certs.ts';
import type { ApplyContext, TlsPolicy } from '../../../src/webhook/tls/rotation.ts';

export const T0 = new Date('2030-01-01T00:00:00Z');
export const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

/** Seconds instead of years, same shape as the defaults; satisfies tlsPolicySchema. */
export const SHORT_POLICY: TlsPolicy = {
  caValiditySeconds: 10_000,
  caRenewBeforeSeconds: 3_000,
  servingValiditySeconds: 1_000,
  servingRenewBeforeSeconds: 300,
  caPropagationSeconds: 60,
};

export const IDENTITY: ServingIdentity = { service: 'mdev-webhook', namespace: 'mdev-system', ipAddresses: ['127.0.0.1'] };

export function applyAt(seconds: number, policy: TlsPolicy = SHORT_POLICY): ApplyContext {
  return { now: at(seconds), policy, identity: IDENTITY, caCommonName: 'unit-ca' };
}
