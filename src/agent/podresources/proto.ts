// Loads the kubelet PodResources v1 service definition from proto/podresources/v1/api.proto (a
// copy of Kubernetes 1.36.3's; the file header names the version).
// The path is resolved from this module's URL, never from the process cwd, so the same code works
// from src/ (type stripping) and from dist/ (compiled): src/agent/podresources/ and
// dist/agent/podresources/ are both three levels below the directory that holds proto/. The
// container image must therefore ship proto/ next to dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protoLoader from '@grpc/proto-loader';

export const PODRESOURCES_SERVICE = 'v1.PodResourcesLister';

/** The gRPC method paths, as the kubelet routes them. */
export const METHOD_PATHS = {
  list: `/${PODRESOURCES_SERVICE}/List`,
  getAllocatable: `/${PODRESOURCES_SERVICE}/GetAllocatableResources`,
  get: `/${PODRESOURCES_SERVICE}/Get`,
} as const;

/**
 * Decoding options shared by client and fake kubelet so both see the same JS shapes: camelCase
 * fields, every field present (defaults), 64-bit integers as strings (no silent precision loss).
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
};

/** Where api.proto lives for a module at `moduleUrl` (exported so the layout rule is testable). */
export function podResourcesProtoPath(moduleUrl: string = import.meta.url): string {
  return fileURLToPath(new URL('../../../proto/podresources/v1/api.proto', moduleUrl));
}

let cached: protoLoader.ServiceDefinition | undefined;

/** The PodResourcesLister service definition (serializers included); loaded once per process. */
export function podResourcesService(): protoLoader.ServiceDefinition {
  if (cached) return cached;
  const file = podResourcesProtoPath();
  if (!existsSync(file)) {
    throw new Error(
      `kubelet PodResources proto not found at ${file}: ship the repository's proto/ directory ` +
        'next to src/ or dist/ (the container image must copy proto/)',
    );
  }
  const definition = protoLoader.loadSync(file, LOADER_OPTIONS)[PODRESOURCES_SERVICE];
  if (!definition || !isServiceDefinition(definition)) {
    throw new Error(`${file} does not define service ${PODRESOURCES_SERVICE}: restore it from the repository`);
  }
  cached = definition;
  return definition;
}

function isServiceDefinition(value: protoLoader.AnyDefinition): value is protoLoader.ServiceDefinition {
  return !('format' in value);
}

/** The method definition at `path`; throws if the proto lacks it (a broken checkout). */
export function podResourcesMethod(path: string): protoLoader.MethodDefinition<object, object> {
  const method = Object.values(podResourcesService()).find((m) => m.path === path);
  if (!method) throw new Error(`${podResourcesProtoPath()} lacks method ${path}: restore it from the repository`);
  return method;
}
