// A loopback HTTP server standing in for the API server's transport (not its semantics): it counts
// TCP connections and records each request, and a test decides each answer. Used to check what our
// requests put on the wire without a control plane.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface LoopbackApi {
  kc: KubeConfig;
  /** TCP connections accepted so far. */
  connections(): number;
  requests: { method: string; url: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function loopbackApi(handle: Handler): Promise<LoopbackApi> {
  let connections = 0;
  const requests: LoopbackApi['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    handle(req, res);
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // Plain HTTP is allowed by client-node only with skipTLSVerify; that also makes the options non-empty,
    // so requests go through a pooled undici Agent exactly as for an https server with a CA.
    clusters: [{ name: 'loop', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'loopback-token' }],
    contexts: [{ name: 'loop', cluster: 'loop', user: 'u' }],
    currentContext: 'loop',
  });
  return {
    kc,
    connections: () => connections,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
