// Verdicts of the driver's compatibility test, keyed by (type, source string, target string). By the
// protocol's contract the string captures everything that decides the answer, so an answer holds
// for every device publishing the same string. The type is part of the key because two types may
// publish the same string while their drivers decide differently.
//
// Bounded and least-recently-used: a fleet has few distinct strings, so the bound only protects
// against pathological churn (e.g. a driver that embeds a counter in its string).

import { verdictKey } from './keys.ts';

export interface CachedVerdict {
  accepted: boolean;
  reason?: string;
}

export interface VerdictCacheOptions {
  /** Entries kept before the least recently used is dropped (default 10,000). */
  maxEntries?: number;
}

interface Entry {
  verdict: CachedVerdict;
  sourceVersion: string;
  targetVersion: string;
}

export class VerdictCache {
  readonly maxEntries: number;
  // Map iteration order is insertion order; re-inserting on use keeps the oldest entry first.
  #entries = new Map<string, Entry>();
  // version string -> keys mentioning it, so invalidation does not scan the whole cache.
  #byVersion = new Map<string, Set<string>>();

  constructor(options: VerdictCacheOptions = {}) {
    const max = options.maxEntries ?? 10_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`VerdictCache maxEntries must be a positive integer, got ${max}`);
    this.maxEntries = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(typeId: string, sourceVersion: string, targetVersion: string): CachedVerdict | undefined {
    const key = verdictKey(typeId, sourceVersion, targetVersion);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.verdict;
  }

  set(typeId: string, sourceVersion: string, targetVersion: string, verdict: CachedVerdict): void {
    const key = verdictKey(typeId, sourceVersion, targetVersion);
    if (this.#entries.has(key)) this.#entries.delete(key);
    const copy: CachedVerdict = verdict.reason === undefined ? { accepted: verdict.accepted } : { accepted: verdict.accepted, reason: verdict.reason };
    this.#entries.set(key, { verdict: copy, sourceVersion, targetVersion });
    this.#index(sourceVersion, key);
    this.#index(targetVersion, key);
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#remove(oldest);
    }
  }

  /** Drop every verdict whose source or target string is `version` (a device's string changed). */
  invalidateVersion(version: string): number {
    const keys = this.#byVersion.get(version);
    if (!keys) return 0;
    const doomed = [...keys];
    for (const key of doomed) this.#remove(key);
    return doomed.length;
  }

  clear(): void {
    this.#entries.clear();
    this.#byVersion.clear();
  }

  #index(version: string, key: string): void {
    let keys = this.#byVersion.get(version);
    if (!keys) this.#byVersion.set(version, (keys = new Set()));
    keys.add(key);
  }

  #remove(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    for (const version of [entry.sourceVersion, entry.targetVersion]) {
      const keys = this.#byVersion.get(version);
      keys?.delete(key);
      if (keys && keys.size === 0) this.#byVersion.delete(version);
    }
  }
}
