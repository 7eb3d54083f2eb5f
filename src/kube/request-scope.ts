// An abort signal that every API request made inside a scope carries, however deep in the call
// chain it is made: a leader term's work (ADR 0014) runs in one, so that losing the Lease aborts
// the term's requests still in flight. Without it a request the term sent into an outage (etcd
// down, the API server holding it) kept the term alive until the API server's own timeout (60 s),
// and the replica campaigned again only then.
//
// A scope rather than a signal passed by hand: the term's requests are made by a dozen components
// (status writer, claims, VMIM driver, probes, events, sweepers), some shared with the webhook
// (probes, decisions), which must not be aborted when a term ends. The scope follows the term's
// async work and nothing else; requests of code started outside it (informers, the elector, the
// webhook) never see it.
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` so that every API request it makes, directly or through later async steps, is aborted with `signal`. */
export function withRequestsAbortedBy<T>(signal: AbortSignal, work: () => T): T {
  return scope.run(signal, work);
}

/** The request's own signal combined with the enclosing scope's, if any. */
export function requestSignal(own: AbortSignal | undefined): AbortSignal | undefined {
  const scoped = scope.getStore();
  if (!scoped) return own;
  return own ? AbortSignal.any([own, scoped]) : scoped;
}
