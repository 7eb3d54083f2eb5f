// Names, addresses and paths of the one real local node. Everything the node writes lives under
// `<cluster>/.realnode/` except the machine-wide things listed here, which the host journal undoes.
import { join } from 'node:path';
import { nodeToolsDir } from '../paths.ts';

export const NODE_NAME = 'local-node-1';
/** The pod bridge; it has no uplink, so nothing on it can leave the machine. */
export const BRIDGE = 'mdevnode0';
export const POD_CIDR = '10.244.0.0/24';
/** The bridge's address: the pods' gateway, the node's InternalIP and where kube-apiserver listens. */
export const NODE_IP = '10.244.0.1';
/** Same as the default cluster's --service-cluster-ip-range. */
export const SERVICE_CIDR = '10.0.0.0/24';
/** Our nftables table: pod traffic stays on the bridge. kube-proxy adds its own `kube-proxy` tables. */
export const GUARD_TABLE = 'mdev-localnode';
/** One real node per machine: who holds it (the cluster directory) is written here. */
export const MACHINE_LOCK = '/run/mdev-operator/real-node.json';

/** Paths the kubelet, libcni and containerd write whatever their configured roots say. */
export const HARD_CODED_PATHS = [
  '/var/lib/kubelet/device-plugins', // the device manager's fixed socket directory
  '/var/log/containers', // the kubelet's container-log symlinks
  '/var/lib/cni', // libcni's result cache
  '/run/netns',
  '/run/containerd',
];

/** Kernel tunables the kubelet (at start) and the bridge set; restored at down. */
export const SYSCTLS = [
  'vm.overcommit_memory', 'vm.panic_on_oom', 'kernel.panic', 'kernel.panic_on_oops', 'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes', 'net.ipv4.ip_forward', 'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables',
];

export interface NodePaths {
  dir: string;
  journal: string;
  logs: string;
  pki: string;
  etc: string;
  containerd: { root: string; state: string; socket: string; config: string };
  kubelet: { root: string; config: string; kubeconfig: string; podLogs: string; podResourcesSocket: string };
  cni: { conf: string; ipam: string; bin: string };
  images: string;
}

export function nodePaths(clusterRoot: string): NodePaths {
  const dir = join(clusterRoot, '.realnode');
  const etc = join(dir, 'etc');
  const kubeletRoot = join(dir, 'kubelet');
  return {
    dir,
    journal: join(dir, 'host-changes.json'),
    logs: join(dir, 'logs'),
    pki: join(dir, 'pki'),
    etc,
    containerd: {
      root: join(dir, 'containerd', 'root'), state: join(dir, 'containerd', 'state'),
      socket: join(dir, 'containerd', 'containerd.sock'), config: join(etc, 'containerd.toml'),
    },
    kubelet: {
      root: kubeletRoot, config: join(etc, 'kubelet.yaml'), kubeconfig: join(etc, 'kubelet.kubeconfig'),
      podLogs: join(dir, 'pod-logs'), podResourcesSocket: join(kubeletRoot, 'pod-resources', 'kubelet.sock'),
    },
    cni: { conf: join(etc, 'cni'), ipam: join(dir, 'cni-ipam'), bin: join(nodeToolsDir(), 'root', 'usr', 'lib', 'cni') },
    images: join(dir, 'images'),
  };
}

/** Binaries and unpacked Debian files of the node (see scripts/build-node.sh). */
export function nodeTools() {
  const dir = nodeToolsDir();
  const bin = (n: string) => join(dir, 'bin', n);
  const root = join(dir, 'root');
  return {
    dir,
    kubelet: bin('kubelet'), kubeScheduler: bin('kube-scheduler'), kubeProxy: bin('kube-proxy'),
    containerd: bin('containerd'), ctr: bin('ctr'), shim: bin('containerd-shim-runc-v2'), runc: bin('runc'), pause: bin('pause'),
    binDir: join(dir, 'bin'),
    nft: { bin: join(root, 'usr', 'sbin', 'nft'), libDir: join(root, 'usr', 'lib', 'x86_64-linux-gnu') },
    nftDir: join(root, 'usr', 'sbin'),
    umoci: join(root, 'usr', 'bin', 'umoci'),
  };
}
export type NodeTools = ReturnType<typeof nodeTools>;
