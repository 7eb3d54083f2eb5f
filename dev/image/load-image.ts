// `npm run image:load`: imports the built image into the running real node's containerd as
// localhost/mdev-operator:dev (pods use it with imagePullPolicy: Never; nothing is pushed anywhere).
import { existsSync } from 'node:fs';
import { ClusterError } from '../localcluster/errors.ts';
import { nodePaths, nodeTools } from '../localcluster/node/layout.ts';
import { readHolder } from '../localcluster/node/machine-lock.ts';
import { IMAGE_ARCHIVE, IMAGE_NAME, IMAGE_TAG } from './build-image.ts';
import { importOciArchive } from '../localcluster/node/oci-image.ts';

/** Imports `archive` into the machine's real node (there is at most one); returns the image name. */
export async function loadImage(archive = IMAGE_ARCHIVE): Promise<string> {
  if (!existsSync(archive)) throw new ClusterError(`no image archive at ${archive}`, 'build it first with `npm run image:build`');
  const holder = readHolder();
  const socket = holder ? nodePaths(holder.cluster).containerd.socket : undefined;
  if (!socket || !existsSync(socket)) {
    throw new ClusterError('no real node runs on this machine', 'start one with `npm run cluster:up -- --nodes 1` (as root), then run `npm run image:load` again');
  }
  await importOciArchive(nodeTools().ctr, socket, archive, IMAGE_NAME);
  return `${IMAGE_NAME}:${IMAGE_TAG}`;
}
