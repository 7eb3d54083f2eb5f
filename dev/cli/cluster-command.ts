// `mdev-operator cluster up|down|status`: the local control plane for the demo and the tests.
import { parseArgs } from 'node:util';
import { ClusterError, down, status, up } from '../localcluster/index.ts';
import { UsageError } from '../../src/cli/usage-error.ts';

export const CLUSTER_USAGE = `Usage: mdev-operator cluster up|down|status [flags]

The local control plane for the demo and the tests: etcd, kube-apiserver and kube-controller-manager
as local processes under .localcluster/, built from the Go module proxy on first use.

  up [--nodes 1]   start it (idempotent; builds if needed) and print export KUBECONFIG=...;
                   --nodes 1 adds one real node on this machine (kubelet and container runtime; root)
  down [--purge]   stop it; --purge also deletes its data and certificates
  status           list its processes; exit 0 when the API server is ready, else 1
  --name NAME      a second cluster under .localcluster/NAME (default: the default one)
`;

export async function clusterCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { name: { type: 'string' }, purge: { type: 'boolean', default: false }, nodes: { type: 'string' } },
    allowPositionals: false,
  });
  const name = values.name;
  const nodes = parseNodes(values.nodes);
  try {
    switch (action) {
      case 'up': {
        const t0 = Date.now();
        // Ctrl-C mid-start must not leave half a cluster running: stop what was started, then exit.
        // A signal handler cannot wait; a failed stop is printed, and the exit follows either way.
        const abort = () => void down({ name }).catch((err: unknown) => process.stderr.write(`[cluster] stopping ${name} failed: ${String(err)}\n`)).finally(() => process.exit(130));
        process.once('SIGINT', abort);
        process.once('SIGTERM', abort);
        const c = await up({ name, nodes }).finally(() => {
          process.off('SIGINT', abort);
          process.off('SIGTERM', abort);
        });
        process.stderr.write(`[cluster] ready at ${c.server} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
        process.stdout.write(`export KUBECONFIG=${c.kubeconfig}\n`);
        return 0;
      }
      case 'down': {
        const stopped = await down({ name, purge: values.purge });
        process.stderr.write(stopped.length ? `[cluster] stopped ${stopped.join(', ')}\n` : '[cluster] nothing was running\n');
        return 0;
      }
      case 'status': {
        const s = await status({ name });
        for (const c of s.components) process.stdout.write(`${c.name.padEnd(24)} ${c.alive ? `running (pid ${c.pid})` : 'stopped'}\n`);
        if (s.node) process.stdout.write(`node ${s.node.name.padEnd(19)} ${s.node.ready ? 'Ready' : 'NotReady'} (PodResources: ${s.node.podResourcesSocket})\n`);
        process.stdout.write(s.ready ? `apiserver ready at ${s.server}\nexport KUBECONFIG=${s.kubeconfig}\n` : 'apiserver not ready\n');
        return s.ready ? 0 : 1;
      }
      default:
        throw new UsageError(`unknown cluster action '${action ?? ''}': use up, down or status`);
    }
  } catch (err) {
    if (err instanceof ClusterError) {
      process.stderr.write(`[cluster] ERROR: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** `--nodes 0|1`: one real node at most (its bridge, nftables tables and cgroups are machine-wide). */
export function parseNodes(raw: string | undefined): 0 | 1 {
  if (raw === undefined || raw === '0') return 0;
  if (raw === '1') return 1;
  throw new UsageError(`--nodes ${raw}: the local cluster runs 0 or 1 real node (one per machine); use --nodes 1`);
}
