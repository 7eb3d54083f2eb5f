// What integration tests use to reach the real local kube-apiserver started by the global fixture.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';

export function testKubeconfigPath(): string {
  const path = process.env.MDEV_TEST_KUBECONFIG;
  if (!path) throw new Error('no test cluster: run the integration tests through mocha with test/support/global-fixture.ts (npm test), or set MDEV_TEST_KUBECONFIG');
  return path;
}

export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigPath());
  return kc;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl against the test cluster; never throws on a non-zero exit (tests assert on it). */
export function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile('kubectl', ['--kubeconfig', testKubeconfigPath(), ...args],
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A short random DNS-label-safe name, so tests never collide with each other or a previous run. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
