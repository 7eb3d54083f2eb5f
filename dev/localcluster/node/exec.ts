// Runs the host tools a real node needs (ip, nft, ctr, umoci, openssl) and turns a failure into a
// ClusterError naming the command and its stderr.
import { execFile } from 'node:child_process';
import { ClusterError } from '../errors.ts';

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws on a non-zero exit (a missing binary is code 127). */
export function tryRun(bin: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, {
      env: { ...process.env, ...opts.env }, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024,
    }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      const code = !e ? 0 : e.code === 'ENOENT' ? 127 : typeof e.code === 'number' ? e.code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr || (e && e.code === 'ENOENT' ? `${bin}: not found` : '')) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a command and returns its stdout; a non-zero exit is a ClusterError with its stderr. */
export async function run(bin: string, args: string[], opts: RunOptions & { remedy?: string } = {}): Promise<string> {
  const r = await tryRun(bin, args, opts);
  if (r.code !== 0) {
    const said = (r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ');
    throw new ClusterError(`\`${[bin, ...args].join(' ')}\` failed (exit ${r.code}): ${said}`, opts.remedy ?? 'see the message above');
  }
  return r.stdout;
}
