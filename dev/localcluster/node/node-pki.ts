// The real node's identities, all signed by the cluster CA:
// - the kubelet's client certificate (O=system:nodes, CN=system:node:<name>): what the Node
//   authorizer and NodeRestriction expect of a kubelet;
// - the kubelet's serving certificate (the node's IP and name), which kube-apiserver verifies
//   (--kubelet-certificate-authority) when it proxies logs, exec and port-forward;
// - kube-apiserver's client certificate for the kubelet, which the kubelet authenticates against
//   the CA and authorizes by SubjectAccessReview (webhook mode, no anonymous access).
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { signed, type Pki } from '../pki.ts';
import { NODE_IP, NODE_NAME } from './layout.ts';

export interface NodePki {
  kubeletClientCert: string;
  kubeletClientKey: string;
  kubeletServingCert: string;
  kubeletServingKey: string;
  apiserverKubeletClientCert: string;
  apiserverKubeletClientKey: string;
}

const CLIENT = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n';

export async function ensureNodePki(dir: string, cluster: Pki): Promise<NodePki> {
  const f = (n: string) => join(dir, n);
  const p: NodePki = {
    kubeletClientCert: f('kubelet-client.crt'), kubeletClientKey: f('kubelet-client.key'),
    kubeletServingCert: f('kubelet-serving.crt'), kubeletServingKey: f('kubelet-serving.key'),
    apiserverKubeletClientCert: f('apiserver-kubelet-client.crt'), apiserverKubeletClientKey: f('apiserver-kubelet-client.key'),
  };
  if (Object.values(p).every((file) => existsSync(file))) return p;
  await mkdir(dir, { recursive: true });
  await signed(dir, cluster, 'kubelet-client', `/O=system:nodes/CN=system:node:${NODE_NAME}`, CLIENT);
  await signed(dir, cluster, 'kubelet-serving', `/CN=${NODE_NAME}`,
    `subjectAltName=IP:${NODE_IP},DNS:${NODE_NAME}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`);
  // system:masters: the kubelet's webhook authorizer then allows the API server every kubelet API.
  await signed(dir, cluster, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', CLIENT);
  return p;
}
