// Which devices KubeVirt treats as interchangeable on a node. KubeVirt's mediated-device plugin
// advertises a node's mdevs grouped by the type's `name` attribute, spaces replaced by '_', or the
// type directory's name when there is no `name` (getMdevTypeName in
// pkg/virt-handler/device-manager/mediated_device.go, KubeVirt v1.9); the resource the VMI requests
// (`permittedHostDevices.mediatedDevices[].resourceName`) maps one such name. The kubelet then hands
// the target pod any free device id of that resource. NVIDIA's device plugins group vGPUs and
// vendor-VFIO VFs by vGPU type the same way. This key is the placement engine's pool.

/** The pool (device-plugin resource key) of a device of this mdev type. */
export function mdevPoolKey(type: { id: string; name?: string | undefined }): string {
  const name = type.name?.replace(/ /g, '_').trim();
  return name ? name : type.id;
}
