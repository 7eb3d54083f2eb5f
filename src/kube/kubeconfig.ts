// Where the API server is and how to authenticate to it: a kubeconfig file (kubectl's format, a
// KUBECONFIG list merged like kubectl) or the pod's service account. Our own reader instead of
// @kubernetes/client-node's KubeConfig, because importing client-node loads its generated API
// surface (~50 MiB RSS in the controller and every agent; ADR 0018), and the product only needs
// the server, the TLS material and an Authorization header.
//
// Served here: client certificates and CAs (file or data), bearer tokens (inline, `tokenFile`, the
// service account's token re-read every minute as client-go does), basic auth, impersonation,
// insecure-skip-tls-verify, tls-server-name and HTTP(S) proxies. A user with an `exec` credential
// plugin or an `auth-provider` (cloud and OIDC logins, mostly the read-only CLI on a laptop) is
// authenticated by client-node itself, imported only then, so those keep working unchanged.
//
// Entries keep client-node's shape (`caData`, `certFile`, `skipTLSVerify`, ...): that is what
// client-node is handed for a plugin, and client-node's KubeConfig (used by tests and dev tools)
// satisfies the `KubeConfig` interface every component takes.
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { isIPv6 } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { realClock, type Clock } from './clock.ts';

export interface Cluster {
  readonly name: string;
  readonly server: string;
  readonly caData?: string;
  caFile?: string;
  readonly skipTLSVerify: boolean;
  readonly tlsServerName?: string;
  readonly proxyUrl?: string;
}

export interface User {
  readonly name: string;
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  token?: string;
  /** kubectl's `tokenFile`: read again at most every minute (bound service-account tokens rotate). */
  tokenFile?: string;
  username?: string;
  password?: string;
  impersonateUser?: string;
  /** A credential plugin: handled by client-node (see the header). */
  exec?: unknown;
  authProvider?: unknown;
}

export interface Context {
  readonly name: string;
  readonly cluster: string;
  readonly user?: string;
  readonly namespace?: string;
}

/**
 * What every component takes: the server, and per request the TLS material and headers. Our
 * {@link LoadedKubeConfig} and client-node's KubeConfig both fit.
 */
export interface KubeConfig {
  getCurrentCluster(): Cluster | null;
  /** Sets `ca`, `cert`, `key`, `rejectUnauthorized`, `servername`, `auth` and `headers` on `opts`. */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

/** The current context's namespace, where kubectl puts a namespaced name given without one. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  return kc instanceof LoadedKubeConfig ? kc.getCurrentContextObject()?.namespace : undefined;
}

export interface KubeConfigContents {
  clusters: Cluster[];
  users: User[];
  contexts: Context[];
  currentContext: string;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** client-go re-reads a token file at most this often (CachedFileTokenSource). */
const TOKEN_FILE_TTL_MS = 60_000;

/** A kubeconfig read by {@link readKubeConfigFiles} or {@link inClusterKubeConfig}. */
export class LoadedKubeConfig implements KubeConfig {
  readonly clusters: Cluster[];
  readonly users: User[];
  readonly contexts: Context[];
  readonly currentContext: string;
  readonly #tokens = new Map<string, { token: string; readAt: number }>();
  readonly #clock: Clock;
  #delegate: Promise<KubeConfig> | undefined;

  constructor(contents: KubeConfigContents, clock: Clock = realClock) {
    this.#clock = clock;
    this.clusters = contents.clusters;
    this.users = contents.users;
    this.contexts = contents.contexts;
    this.currentContext = contents.currentContext;
  }

  getContexts(): Context[] {
    return this.contexts;
  }

  getCurrentContext(): string {
    return this.currentContext;
  }

  /**
   * The same entries with `name` as the current context (kubectl's `--context`), or undefined when
   * no context has that name.
   */
  withCurrentContext(name: string): LoadedKubeConfig | undefined {
    if (!this.contexts.some((c) => c.name === name)) return undefined;
    return new LoadedKubeConfig({ clusters: this.clusters, users: this.users, contexts: this.contexts, currentContext: name }, this.#clock);
  }

  getCurrentContextObject(): Context | null {
    return this.contexts.find((c) => c.name === this.currentContext) ?? null;
  }

  getCurrentCluster(): Cluster | null {
    const ctx = this.getCurrentContextObject();
    return (ctx && this.clusters.find((c) => c.name === ctx.cluster)) ?? null;
  }

  getCurrentUser(): User | null {
    const ctx = this.getCurrentContextObject();
    return (ctx && this.users.find((u) => u.name === ctx.user)) ?? null;
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (user && (user.exec || user.authProvider)) return (await this.#plugins()).applyToHTTPSOptions(opts);
    if (cluster?.skipTLSVerify) opts.rejectUnauthorized = false;
    if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
    const ca = fileOrData(cluster?.caFile, cluster?.caData);
    if (ca) opts.ca = ca;
    if (!user) return;
    const cert = fileOrData(user.certFile, user.certData);
    if (cert) opts.cert = cert;
    const key = fileOrData(user.keyFile, user.keyData);
    if (key) opts.key = key;
    const headers: Record<string, string> = {};
    if (user.impersonateUser) headers['Impersonate-User'] = user.impersonateUser;
    const token = user.token ?? (user.tokenFile ? this.#tokenFrom(user.tokenFile) : undefined);
    if (token) headers.Authorization = `Bearer ${token}`;
    opts.headers = { ...(opts.headers as Record<string, string> | undefined), ...headers };
    if (user.username) opts.auth = `${user.username}:${user.password ?? ''}`;
  }

  #tokenFrom(file: string): string {
    const cached = this.#tokens.get(file);
    const now = this.#clock.now();
    if (cached && now - cached.readAt < TOKEN_FILE_TTL_MS) return cached.token;
    const token = readFileSync(file, 'utf8').trim();
    this.#tokens.set(file, { token, readAt: now });
    return token;
  }

  /** client-node's KubeConfig over the same entries, loaded on first use (credential plugins only). */
  #plugins(): Promise<KubeConfig> {
    this.#delegate ??= import('@kubernetes/client-node').then(({ KubeConfig: ClientNodeKubeConfig }) => {
      const kc = new ClientNodeKubeConfig();
      kc.loadFromOptions({ clusters: this.clusters, users: this.users, contexts: this.contexts, currentContext: this.currentContext });
      return kc;
    });
    return this.#delegate;
  }
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | undefined {
  if (file) return readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

type Raw = Record<string, unknown>;

const asRecord = (v: unknown): Raw | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const absolute = (dir: string, file: string | undefined): string | undefined => (file === undefined || isAbsolute(file) ? file : join(dir, file));

function named(list: unknown, kind: string, where: string): { name: string; body: Raw }[] {
  if (list === undefined || list === null) return [];
  if (!Array.isArray(list)) throw new Error(`${where}: ${kind}s must be a list`);
  return list.map((e, i) => {
    const entry = asRecord(e);
    const name = str(entry?.name);
    if (!entry || !name) throw new Error(`${where}: ${kind}s[${i}].name is missing`);
    const body = asRecord(entry[kind]);
    if (!body && kind !== 'user') throw new Error(`${where}: ${kind}s[${i}].${kind} is missing (${kind} ${name})`);
    return { name, body: body ?? {} };
  });
}

/** One kubeconfig document; relative file paths are resolved against `dir`, as kubectl does. */
export function parseKubeConfig(text: string, where: string, dir: string): KubeConfigContents {
  let doc: Raw | undefined;
  try {
    doc = asRecord(parseYaml(text));
  } catch (err) {
    throw new Error(`${where} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  if (!doc) throw new Error(`${where} is not a kubeconfig (expected a mapping with clusters, users and contexts)`);
  const clusters = named(doc.clusters, 'cluster', where).map(({ name, body: c }, i): Cluster => {
    const server = str(c.server);
    if (!server) throw new Error(`${where}: clusters[${i}].cluster.server is missing (cluster ${name})`);
    return {
      name,
      server: server.replace(/\/$/, ''),
      caData: str(c['certificate-authority-data']),
      caFile: absolute(dir, str(c['certificate-authority'])),
      skipTLSVerify: c['insecure-skip-tls-verify'] === true,
      tlsServerName: str(c['tls-server-name']),
      proxyUrl: str(c['proxy-url']),
    };
  });
  const users = named(doc.users, 'user', where).map(({ name, body: u }): User => ({
    name,
    certData: str(u['client-certificate-data']),
    certFile: absolute(dir, str(u['client-certificate'])),
    keyData: str(u['client-key-data']),
    keyFile: absolute(dir, str(u['client-key'])),
    token: str(u.token),
    tokenFile: absolute(dir, str(u.tokenFile) ?? str(u['token-file'])),
    username: str(u.username),
    password: str(u.password),
    impersonateUser: str(u.as),
    exec: asRecord(u.exec),
    authProvider: asRecord(u['auth-provider']),
  }));
  const contexts = named(doc.contexts, 'context', where).map(({ name, body: c }, i): Context => {
    const cluster = str(c.cluster);
    if (!cluster) throw new Error(`${where}: contexts[${i}].context.cluster is missing (context ${name})`);
    return { name, cluster, user: str(c.user), namespace: str(c.namespace) };
  });
  return { clusters, users, contexts, currentContext: str(doc['current-context']) ?? '' };
}

/**
 * The kubeconfig of `paths` merged as kubectl merges KUBECONFIG: the first file that names a
 * cluster, user or context wins it, and the first current-context set wins.
 */
export function readKubeConfigFiles(paths: readonly string[]): LoadedKubeConfig {
  const merged: KubeConfigContents = { clusters: [], users: [], contexts: [], currentContext: '' };
  const addNew = <T extends { name: string }>(into: T[], more: T[]): void => {
    for (const e of more) if (!into.some((x) => x.name === e.name)) into.push(e);
  };
  for (const path of paths) {
    const one = parseKubeConfig(readFileSync(path, 'utf8'), path, dirname(path));
    addNew(merged.clusters, one.clusters);
    addNew(merged.users, one.users);
    addNew(merged.contexts, one.contexts);
    merged.currentContext ||= one.currentContext;
  }
  return new LoadedKubeConfig(merged);
}

/**
 * The pod's service account: the API server from KUBERNETES_SERVICE_HOST/PORT, its CA and token
 * files (the token re-read every minute), and its namespace.
 */
export function inClusterKubeConfig(env: NodeJS.ProcessEnv = process.env, root = SERVICE_ACCOUNT, clock: Clock = realClock): LoadedKubeConfig {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  const scheme = ['80', '8080', '8001'].includes(port) ? 'http' : 'https';
  const server = `${scheme}://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(root, 'namespace'), 'utf8').trim() || undefined;
  } catch {
    namespace = undefined;
  }
  return new LoadedKubeConfig({
    clusters: [{ name: 'inCluster', server, caFile: join(root, 'ca.crt'), skipTLSVerify: false }],
    users: [{ name: 'inClusterUser', tokenFile: join(root, 'token') }],
    contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', namespace }],
    currentContext: 'inClusterContext',
  }, clock);
}
