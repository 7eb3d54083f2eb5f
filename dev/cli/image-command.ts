// `mdev-operator image build|load`: the product image without a container engine (dev/image).
import { buildImage } from '../image/build-image.ts';
import { loadImage } from '../image/load-image.ts';
import { ClusterError } from '../localcluster/index.ts';
import { UsageError } from '../../src/cli/usage-error.ts';

export const IMAGE_USAGE = `Usage: mdev-operator image build|load

The product image without a container engine or registry: Node.js 24 and the Containerfile's
runtime stage (production node_modules, dist/, proto/, crds/).

  build   write it as an OCI archive (tar) and print its path
  load    import the built archive into the real node's containerd as localhost/mdev-operator:dev
          (the local cluster started with cluster up --nodes 1)
`;

export async function imageCommand(argv: string[]): Promise<number> {
  const [action, ...rest] = argv;
  if (rest.length > 0) throw new UsageError(`image ${action ?? ''}: unexpected arguments ${rest.join(' ')}`);
  try {
    switch (action) {
      case 'build': {
        const t0 = Date.now();
        const archive = await buildImage();
        process.stderr.write(`[image] built ${archive} in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
        process.stdout.write(`${archive}\n`);
        return 0;
      }
      case 'load': {
        const name = await loadImage();
        process.stderr.write(`[image] loaded ${name} into the real node\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown image action '${action ?? ''}': use build or load`);
    }
  } catch (err) {
    if (err instanceof ClusterError) {
      process.stderr.write(`[image] ERROR: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
