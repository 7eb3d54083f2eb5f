// Every path the agent touches must resolve inside the configured root: a symlink in a hostile or
// broken tree must never lead the agent to read or write /etc/shadow or a device elsewhere.
import { realpathSync } from 'node:fs';
import path from 'node:path';

export type Confined = { ok: true; path: string } | { ok: false; reason: string };

/** The real path of `root` (computed once per discovery; /tmp itself may be a symlink). */
export function realRoot(root: string): string {
  return realpathSync(root);
}

export function isInside(realRootPath: string, candidate: string): boolean {
  return candidate === realRootPath || candidate.startsWith(realRootPath + path.sep);
}

/** Resolves every link in `p` and checks the result stays inside `realRootPath`. */
export function confine(realRootPath: string, p: string): Confined {
  let real: string;
  try {
    real = realpathSync(p);
  } catch (err) {
    return { ok: false, reason: describeResolveError(err) };
  }
  if (!isInside(realRootPath, real)) {
    return { ok: false, reason: `resolves to ${real}, outside the root ${realRootPath}` };
  }
  return { ok: true, path: real };
}

function describeResolveError(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'ELOOP') return 'symbolic link loop (ELOOP)';
  if (code === 'ENOENT') return 'missing or dangling link (ENOENT)';
  if (code === 'EACCES') return 'permission denied (EACCES)';
  return `cannot resolve: ${err instanceof Error ? err.message : String(err)}`;
}
