// Where the API server is and how to talk to it: kubeconfig loading in the order the CLI documents
// (--kubeconfig, then KUBECONFIG, then in-cluster; --context picks one of its contexts), with our own
// reader (kubeconfig.ts, ADR 0018).
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
  /** The `--context` flag, if given: this context instead of the kubeconfig's current-context. */
  context?: string;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the KubeConfig: `--kubeconfig`, else `KUBECONFIG` (a path list, merged like kubectl), else
 * the in-cluster service account; then selects `--context` as kubectl does. Throws a message naming
 * the remedy when none is available or the context does not exist.
 */
export function loadKubeConfig(source: KubeConfigSource = {}, env: NodeJS.ProcessEnv = process.env): LoadedKubeConfig {
  const { kc, from } = readConfig(source, env);
  if (!source.context) return kc; // kubectl too takes an empty --context as none
  const chosen = kc.withCurrentContext(source.context);
  if (chosen) return chosen;
  const names = kc.getContexts().map((c) => c.name);
  const available = names.length > 0 ? `available contexts: ${names.join(', ')}` : 'it defines no contexts';
  throw new Error(`--context ${source.context}: no context named "${source.context}" in ${from}; ${available} (\`kubectl config get-contexts\` lists them)`);
}

function readConfig(source: KubeConfigSource, env: NodeJS.ProcessEnv): { kc: LoadedKubeConfig; from: string } {
  if (source.kubeconfig) {
    if (!existsSync(source.kubeconfig)) throw new Error(`--kubeconfig ${source.kubeconfig} does not exist: pass the path of a kubeconfig file`);
    return { kc: readKubeConfigFiles([source.kubeconfig]), from: `--kubeconfig ${source.kubeconfig}` };
  }
  const paths = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '' && existsSync(p));
  if (paths.length > 0) return { kc: readKubeConfigFiles(paths), from: `KUBECONFIG=${paths.join(delimiter)}` };
  if (env.KUBERNETES_SERVICE_HOST && existsSync(SERVICE_ACCOUNT_TOKEN)) return { kc: inClusterKubeConfig(env), from: 'the in-cluster configuration' };
  const hint = env.KUBECONFIG ? `KUBECONFIG=${env.KUBECONFIG} names no existing file` : 'KUBECONFIG is not set';
  throw new Error(`No Kubernetes configuration found (${hint}, and this is not a pod): pass --kubeconfig <path> or set KUBECONFIG`);
}
