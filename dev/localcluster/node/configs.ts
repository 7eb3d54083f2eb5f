// The node's configuration files, as pure functions of its paths and ports (unit-tested).
import type { NodePki } from './node-pki.ts';
import { BRIDGE, NODE_IP, POD_CIDR, type NodePaths, type NodeTools } from './layout.ts';

export const PAUSE_IMAGE = 'localhost/pause:3.10-local';

/**
 * containerd 2.x (config version 3): every root, state and socket under the node directory.
 * restrict_oom_score_adj: without CAP_SYS_RESOURCE (VMs like this one) runc may not lower
 * oom_score_adj as the pause container asks, and every sandbox would fail with
 * "can't get final child's PID from pipe: EOF".
 */
export function containerdConfig(p: NodePaths, t: NodeTools): string {
  return `version = 3
root = "${p.containerd.root}"
state = "${p.containerd.state}"
[grpc]
  address = "${p.containerd.socket}"
[ttrpc]
  address = "${p.containerd.socket}.ttrpc"
[plugins."io.containerd.nri.v1.nri"]
  disable = true
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${PAUSE_IMAGE}"
[plugins."io.containerd.cri.v1.runtime"]
  enable_cdi = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "${t.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["${p.cni.bin}"]
    conf_dir = "${p.cni.conf}"
`;
}

/** One bridge, host-local IPAM, no masquerade: pods reach the host and each other, nothing else. */
export function cniConfig(p: NodePaths): string {
  return `${JSON.stringify({
    cniVersion: '1.0.0', name: 'mdev-localnode',
    plugins: [
      {
        type: 'bridge', bridge: BRIDGE, isGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR, gateway: NODE_IP }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: p.cni.ipam },
      },
      { type: 'loopback' },
    ],
  }, null, 2)}\n`;
}

export interface KubeletPorts { port: number; healthz: number }

/**
 * failCgroupV1: false — Kubernetes >= 1.35 refuses cgroup v1 hosts otherwise; cgroupfs because
 * there is no systemd. The kubelet serves with a CA-signed certificate and authenticates and
 * authorizes callers through the API server (no anonymous access). Imported images cannot be
 * pulled again, so image GC is kept away from them.
 */
export function kubeletConfig(p: NodePaths, pki: NodePki, caFile: string, ports: KubeletPorts, resolvConf: string): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${p.containerd.socket}
address: ${NODE_IP}
port: ${ports.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.healthz}
tlsCertFile: ${pki.kubeletServingCert}
tlsPrivateKeyFile: ${pki.kubeletServingKey}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${caFile}}
authorization:
  mode: Webhook
podLogsDir: ${p.kubelet.podLogs}
resolvConf: ${resolvConf}
clusterDomain: cluster.local
failSwapOn: false
maxPods: 40
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
`;
}
