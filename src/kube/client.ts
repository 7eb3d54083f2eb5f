// Where the API server is and how to talk to it: kubeconfig loading in the order the CLI documents
// (--kubeconfig, then KUBECONFIG, then in-cluster), with our own reader (kubeconfig.ts, ADR 0018).
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { inClusterKubeConfig, readKubeConfigFiles, type LoadedKubeConfig } from './kubeconfig.ts';

export {
  apiStatus,
  apiStatusCode,
  describeApiError,
  isAlreadyExists,
  isConflict,
  isGone,
  isNotFound,
} from './errors.ts';
export { kubeRequest, KubeApiError } from './request.ts';
export type { KubeConfig } from './kubeconfig.ts';

export interface KubeConfigSource {
  /** The `--kubeconfig` flag, if given. */
  kubeconfig?: string;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the KubeConfig: `--kubeconfig`, else `KUBECONFIG` (a path list, merged like kubectl), else
 * the in-cluster service account. Throws a message naming the remedy when none is available.
 */
export function loadKubeConfig(source: KubeConfigSource = {}, env: NodeJS.ProcessEnv = process.env): LoadedKubeConfig {
  if (source.kubeconfig) {
    if (!existsSync(source.kubeconfig)) throw new Error(`--kubeconfig ${source.kubeconfig} does not exist: pass the path of a kubeconfig file`);
    return readKubeConfigFiles([source.kubeconfig]);
  }
  const paths = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '' && existsSync(p));
  if (paths.length > 0) return readKubeConfigFiles(paths);
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) return inClusterKubeConfig(env);
  const hint = env.KUBECONFIG ? `KUBECONFIG=${env.KUBECONFIG} names no existing file` : 'KUBECONFIG is not set';
  throw new Error(`No Kubernetes configuration found (${hint}, and this is not a pod): pass --kubeconfig <path> or set KUBECONFIG`);
}
