// A kubeconfig with one cluster and one client-certificate user, everything embedded.
export function kubeconfigYaml(server: string, pem: { ca: string; cert: string; key: string }, user = 'admin'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1', 'kind: Config', 'clusters:', '- name: local', '  cluster:', `    server: ${server}`,
    `    certificate-authority-data: ${b64(pem.ca)}`, 'users:', `- name: ${user}`, '  user:',
    `    client-certificate-data: ${b64(pem.cert)}`, `    client-key-data: ${b64(pem.key)}`,
    'contexts:', '- name: local', `  context: {cluster: local, user: ${user}}`, 'current-context: local', '',
  ].join('\n');
}
