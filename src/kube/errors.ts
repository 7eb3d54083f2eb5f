// Classifies API server errors the way client-go's apierrors does. client-node 2.x throws
// ApiException with `code` and a `body` that is often the raw response text (not a parsed Status),
// and its Watch reports failures as a plain Error with `statusCode`; both shapes are handled here.

/** The subset of a metav1.Status we read. */
export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** The HTTP status of an API error, or undefined for anything else (network errors, bugs). */
export function apiStatusCode(err: unknown): number | undefined {
  const e = asRecord(err);
  if (!e) return undefined;
  for (const field of ['code', 'statusCode']) {
    const v = e[field];
    if (typeof v === 'number' && v >= 100 && v < 600) return v;
  }
  return undefined;
}

/** The metav1.Status carried by an API error, parsing the body when it arrived as text. */
export function apiStatus(err: unknown): ApiStatus {
  const body = asRecord(err)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      parsed = JSON.parse(body.toString());
    } catch {
      parsed = undefined;
    }
  }
  const s = asRecord(parsed);
  const status: ApiStatus = {};
  const code = apiStatusCode(err) ?? (typeof s?.code === 'number' ? s.code : undefined);
  if (code !== undefined) status.code = code;
  if (typeof s?.reason === 'string') status.reason = s.reason;
  if (typeof s?.message === 'string') status.message = s.message;
  return status;
}

export function isNotFound(err: unknown): boolean {
  return apiStatus(err).code === 404;
}

/** An optimistic-concurrency conflict (stale resourceVersion), not a create of an existing name. */
export function isConflict(err: unknown): boolean {
  const s = apiStatus(err);
  return s.code === 409 && s.reason !== 'AlreadyExists';
}

/** A create of a name that exists; a bare 409 without a Status body counts too. */
export function isAlreadyExists(err: unknown): boolean {
  const s = apiStatus(err);
  return s.reason === 'AlreadyExists' || (s.code === 409 && s.reason === undefined);
}

/** 403: RBAC, or an admission plugin or webhook that refused with Forbidden. */
export function isForbidden(err: unknown): boolean {
  return apiStatus(err).code === 403;
}

/**
 * A request the server refused as wrong in itself (400 Bad Request, 422 Invalid): KubeVirt's
 * admission webhooks answer 400 when they refuse a VMIM. Sending it again cannot succeed.
 */
export function isBadRequest(err: unknown): boolean {
  const code = apiStatus(err).code;
  return code === 400 || code === 422;
}

/** 410: a watch or list continue token asked for a resourceVersion that was compacted away. */
export function isGone(err: unknown): boolean {
  const s = apiStatus(err);
  return s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone';
}

/** A one-line description for logs and error messages: `409 Conflict: the object has been modified`. */
export function describeApiError(err: unknown): string {
  const s = apiStatus(err);
  if (s.code === undefined) return err instanceof Error ? err.message : String(err);
  return `${s.code}${s.reason ? ` ${s.reason}` : ''}${s.message ? `: ${s.message}` : ''}`;
}
