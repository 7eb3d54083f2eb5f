// Certificates for the local control plane, made with the openssl CLI: a CA, the apiserver's
// serving cert (127.0.0.1/localhost), an admin client cert (O=system:masters) and the
// service-account signing key pair. Generated once per cluster directory.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ClusterError } from './errors.ts';

const run = promisify(execFile);

export interface Pki {
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

export function pkiFiles(dir: string): Pki {
  const f = (n: string) => join(dir, n);
  return {
    ca: f('ca.crt'), caKey: f('ca.key'), serverCert: f('apiserver.crt'), serverKey: f('apiserver.key'),
    adminCert: f('admin.crt'), adminKey: f('admin.key'), saKey: f('sa.key'), saPub: f('sa.pub'),
  };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new ClusterError('openssl is not installed', 'install it (`apt-get install openssl`) and run again');
    throw new ClusterError(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`, `delete ${cwd} and run again`);
  }
}

export async function signed(dir: string, p: Pki, name: string, subj: string, ext: string): Promise<void> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  await writeFile(extFile, ext);
  await openssl(['genrsa', '-out', key, '2048'], dir);
  await openssl(['req', '-new', '-key', key, '-subj', subj, '-out', csr], dir);
  await openssl(['x509', '-req', '-in', csr, '-CA', p.ca, '-CAkey', p.caKey, '-CAcreateserial', '-days', '3650',
    '-extfile', extFile, '-out', join(dir, `${name}.crt`)], dir);
}

/**
 * The API server's names. 10.244.0.1 is the real node's bridge address (dev/localcluster/node),
 * where kube-apiserver listens when the cluster has a node, so pods can reach it.
 */
export const API_SERVER_SANS = 'IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1,IP:10.244.0.1';

/** Re-signs the API server's certificate if it was made before `ip` was one of its names. */
export async function ensureServerSan(p: Pki, ip: string): Promise<void> {
  const { stdout } = await run('openssl', ['x509', '-in', p.serverCert, '-noout', '-ext', 'subjectAltName']);
  if (stdout.includes(`IP Address:${ip}`)) return;
  await signed(dirname(p.serverCert), p, 'apiserver', '/CN=kube-apiserver',
    `subjectAltName=${API_SERVER_SANS}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
}

export async function ensurePki(dir: string): Promise<Pki> {
  const p = pkiFiles(dir);
  if (Object.values(p).every((file) => existsSync(file))) return p;
  await mkdir(dir, { recursive: true });
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.caKey, '-out', p.ca, '-days', '3650',
    '-subj', '/CN=mdev-operator-local-ca', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  await signed(dir, p, 'apiserver', '/CN=kube-apiserver',
    `subjectAltName=${API_SERVER_SANS}\n` +
    'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await signed(dir, p, 'admin', '/O=system:masters/CN=admin', 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await openssl(['genrsa', '-out', p.saKey, '2048'], dir);
  await openssl(['rsa', '-in', p.saKey, '-pubout', '-out', p.saPub], dir);
  return p;
}
