// Runs a vendor command with a deadline and an output cap. The command gets its own process
// group so that a timeout kills whatever it spawned too (SIGKILL: a hung vendor tool must not
// hold up a probe), and output beyond the cap is never buffered.
import { spawn } from 'node:child_process';

export interface ExecLimits {
  timeoutMs: number;
  maxOutputBytes: number;
}

export type ExecOutcome =
  | { kind: 'exited'; code: number; stdout: string; stderr: string }
  | { kind: 'failed'; reason: string };

export function runBounded(argv: string[], stdin: string, env: NodeJS.ProcessEnv, limits: ExecLimits): Promise<ExecOutcome> {
  const [cmd, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(cmd ?? '', args, { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let failure: string | undefined;
    const kill = (reason: string): void => {
      failure ??= reason;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => kill(`timed out after ${limits.timeoutMs} ms (killed)`), limits.timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.maxOutputBytes) return kill(`output exceeded ${limits.maxOutputBytes} bytes (killed)`);
      into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.stdin.on('error', () => undefined); // the command may exit without reading stdin
    child.on('error', (e) => kill(`could not run ${cmd}: ${e.message}`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) return resolve({ kind: 'failed', reason: failure });
      if (code === null) return resolve({ kind: 'failed', reason: `killed by ${signal}` });
      resolve({ kind: 'exited', code, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') });
    });
    child.stdin.end(stdin, 'latin1');
  });
}
