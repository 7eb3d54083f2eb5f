// A vendor-provided command as the backend (e.g. a wrapper around NVML's
// nvmlGetVgpuCompatibility). Contract, in docs/exec-backend.md:
//   <command> [fixed args...] read <subject-json>            → exit 0, stdout line 1 = version,
//                                                              optional line 2 `kind=instance|class`
//   <command> [fixed args...] test <subject-json> < source   → exit 0 accepted, 1 rejected
// Any other exit, a timeout or oversized output is an error, never an acceptance.
import type { VersionKind } from '../api/v1alpha1/constants.ts';
import { checkVersionString } from '../api/validation.ts';
import { describeSubject, isDevice, type CompatBackend, type CompatSubject, type TestVerdict, type VersionRead } from './backend.ts';
import { runBounded, type ExecOutcome } from './bounded-exec.ts';

export interface ExecBackendConfig {
  /** Absolute path of the vendor command. */
  command: string;
  /** Fixed arguments placed before the mode (e.g. a script path when `command` is an interpreter). */
  args?: string[];
  /** Default 5000 ms; the command's process group is killed with SIGKILL after it. */
  timeoutMs?: number;
  /** Default 16 KiB of stdout+stderr; beyond it the command is killed. */
  maxOutputBytes?: number;
  /** Extra environment variables (the agent's environment is inherited). */
  env?: Record<string, string>;
  /** The backend name devices are published with: `exec`, or `nvml` for the NVML helper preset. */
  name?: 'exec' | 'nvml';
}

export const EXEC_DEFAULT_TIMEOUT_MS = 5000;
export const EXEC_DEFAULT_MAX_OUTPUT = 16 * 1024;
const REASON_MAX_CHARS = 512;

export class ExecBackend implements CompatBackend {
  readonly name: 'exec' | 'nvml';
  readonly #cfg: ExecBackendConfig;

  constructor(cfg: ExecBackendConfig) {
    if (cfg.command === '') throw new Error('exec backend: command is empty; set the vendor command path');
    this.#cfg = cfg;
    this.name = cfg.name ?? 'exec';
  }

  async readVersion(subject: CompatSubject): Promise<VersionRead> {
    const outcome = await this.#run('read', subject, '');
    if (outcome.kind === 'failed') return { migratable: false, reason: `vendor command failed: ${outcome.reason}` };
    const line = firstLine(outcome.stdout);
    if (outcome.code === 1) return { migratable: false, reason: sanitize(line) || 'vendor command reports the device is not migratable' };
    if (outcome.code !== 0) return { migratable: false, reason: exitReason(outcome, line) };
    const check = checkVersionString(line);
    if (!check.ok) return { migratable: false, reason: `vendor command printed an unusable version: ${check.reason}` };
    const kind = kindLine(outcome.stdout);
    return kind ? { migratable: true, version: line, kind } : { migratable: true, version: line };
  }

  async test(target: CompatSubject, sourceVersion: string): Promise<TestVerdict> {
    const check = checkVersionString(sourceVersion);
    if (!check.ok) return { accepted: false, reason: `source version refused before running the vendor command: ${check.reason}` };
    const outcome = await this.#run('test', target, sourceVersion);
    if (outcome.kind === 'failed') return { accepted: false, reason: `vendor command failed for ${describeSubject(target)}: ${outcome.reason}` };
    const line = sanitize(firstLine(outcome.stdout));
    if (outcome.code === 0) return { accepted: true, reason: line || 'vendor command accepted the source version' };
    if (outcome.code !== 1) return { accepted: false, reason: exitReason(outcome, line) };
    const errno = /^(E[A-Z0-9]+):/.exec(line)?.[1];
    const verdict: TestVerdict = { accepted: false, reason: line || 'vendor command rejected the source version' };
    if (errno) verdict.errno = errno;
    return verdict;
  }

  #run(mode: 'read' | 'test', subject: CompatSubject, stdin: string): Promise<ExecOutcome> {
    const json = JSON.stringify({ subject: isDevice(subject) ? 'device' : 'type', ...subject });
    const argv = [this.#cfg.command, ...(this.#cfg.args ?? []), mode, json];
    const limits = { timeoutMs: this.#cfg.timeoutMs ?? EXEC_DEFAULT_TIMEOUT_MS, maxOutputBytes: this.#cfg.maxOutputBytes ?? EXEC_DEFAULT_MAX_OUTPUT };
    return runBounded(argv, stdin, { ...process.env, ...this.#cfg.env }, limits);
  }
}

const KIND_LINE: Record<string, VersionKind> = { 'kind=instance': 'Instance', 'kind=class': 'Class' };

/** The optional second line of a read: which of the two kinds of string the version is. */
function kindLine(stdout: string): VersionKind | undefined {
  return KIND_LINE[stdout.split('\n', 2)[1]?.replace(/\r$/, '') ?? ''];
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]?.replace(/\r$/, '') ?? '';
}

/** Vendor output goes into object status and logs: printable ASCII only, bounded. */
function sanitize(line: string): string {
  return line.replace(/[^\x20-\x7e]/g, '?').slice(0, REASON_MAX_CHARS);
}

function exitReason(outcome: { code: number; stderr: string }, stdoutLine: string): string {
  const detail = sanitize(stdoutLine || firstLine(outcome.stderr));
  return `vendor command exited with status ${outcome.code} (error, not a verdict)${detail ? `: ${detail}` : ''}`;
}
