// The `nvml` backend: the exec contract with NVIDIA's vGPU migration API behind it, i.e. the
// exec backend preset to the NVML helper shipped in the image (helpers/nvml,
// docs/nvml-backend.md). Devices are published with backend `nvml` and a versionKind.
import { ExecBackend } from './exec-backend.ts';

/** Where the image installs the helper (Containerfile). */
export const NVML_HELPER_PATH = '/usr/local/bin/mdev-nvml-helper';

export interface NvmlBackendConfig {
  /** The helper binary (default NVML_HELPER_PATH). */
  helper?: string;
  /** Extra environment for the helper, e.g. MDEV_NVML_LIBRARY or a fixture for the mock build. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export function nvmlBackend(cfg: NvmlBackendConfig = {}): ExecBackend {
  return new ExecBackend({ name: 'nvml', command: cfg.helper ?? NVML_HELPER_PATH, env: cfg.env, timeoutMs: cfg.timeoutMs });
}
