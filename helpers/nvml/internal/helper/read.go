package helper

import (
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/layout"
)

// Kind says which of the two strings a read produced (the agent publishes it as status.versionKind).
type Kind string

const (
	KindInstance Kind = "instance"
	KindClass    Kind = "class"
)

// ReadResult is a successful read: the version string and its kind.
type ReadResult struct {
	Version string
	Kind    Kind
}

// read answers `read`: a running vGPU's metadata (found by its mdev UUID among the GPU's active
// vGPUs), else the GPU's metadata with the type as the device's class key.
func (s *session) read(subject Subject) (ReadResult, *Failure) {
	dev, f := s.gpu(subject)
	if f != nil {
		return ReadResult{}, f
	}
	if subject.Subject == "device" && subject.Kind == "mdev" {
		inst, found, f := s.instanceOf(dev, subject)
		if f != nil {
			return ReadResult{}, f
		}
		if found {
			return s.instanceVersion(inst, subject)
		}
	}
	// A vendor-VFIO VF is always read as a class key: NVML identifies running vGPUs by mdev UUID
	// (nvmlVgpuInstanceGetMdevUUID) and has no query from a VF's PCI address to its vGPU instance.
	return s.classVersion(dev, subject)
}

// instanceOf finds the active vGPU whose mdev UUID is the subject's id.
func (s *session) instanceOf(dev nvml.Device, subject Subject) (nvml.VgpuInstance, bool, *Failure) {
	addr := subject.GPUAddress()
	s.stage.set("nvmlDeviceGetActiveVgpus")
	active, ret := dev.GetActiveVgpus()
	if f := vgpuCallFailure("nvmlDeviceGetActiveVgpus", addr, ret); f != nil {
		return nil, false, f
	}
	for _, inst := range active {
		s.stage.set("nvmlVgpuInstanceGetMdevUUID")
		uuid, ret := inst.GetMdevUUID()
		if ret != nvml.SUCCESS {
			// An instance that vanished between the two calls, or one without an mdev: not ours.
			continue
		}
		if strings.EqualFold(uuid, subject.ID) {
			return inst, true, nil
		}
	}
	return nil, false, nil
}

func (s *session) instanceVersion(inst nvml.VgpuInstance, subject Subject) (ReadResult, *Failure) {
	s.stage.set("nvmlVgpuInstanceGetMetadata")
	md, ret := inst.GetMetadata()
	if ret != nvml.SUCCESS {
		return ReadResult{}, failed("nvmlVgpuInstanceGetMetadata(%s) failed: %v", subject.Describe(), ret)
	}
	b, err := layout.VgpuBytes(&md)
	if err != nil {
		return ReadResult{}, failed("nvmlVgpuInstanceGetMetadata(%s): %v", subject.Describe(), err)
	}
	info, err := layout.CheckVgpu(b, maxOpaque)
	if err != nil {
		return ReadResult{}, notMigratable("E2BIG", "the vGPU metadata of %s cannot be published: %v", subject.Describe(), err)
	}
	if !info.MigrationCapable {
		return ReadResult{}, notMigratable("ENODEV", "the vGPU of %s does not support migration (vgpuVirtualizationCaps: migration NO): its vGPU type or the vGPU Manager's configuration does not allow it", subject.Describe())
	}
	v, err := EncodeInstance(b)
	if err != nil {
		return ReadResult{}, notMigratable("E2BIG", "%s: %v", subject.Describe(), err)
	}
	return ReadResult{Version: v, Kind: KindInstance}, nil
}

func (s *session) classVersion(dev nvml.Device, subject Subject) (ReadResult, *Failure) {
	b, info, f := s.pgpuMetadata(dev, subject)
	if f != nil {
		return ReadResult{}, f
	}
	if !info.MigrationCapable {
		return ReadResult{}, notMigratable("ENODEV", "the GPU at %s does not support vGPU migration (pgpuVirtualizationCaps: migration NO)", subject.GPUAddress())
	}
	v, err := EncodeClass(b, subject.Type.ID)
	if err != nil {
		return ReadResult{}, notMigratable("E2BIG", "%s: %v", subject.Describe(), err)
	}
	return ReadResult{Version: v, Kind: KindClass}, nil
}

// pgpuMetadata is nvmlDeviceGetVgpuMetadata of the subject's GPU, as C layout and fields.
func (s *session) pgpuMetadata(dev nvml.Device, subject Subject) ([]byte, layout.Pgpu, *Failure) {
	addr := subject.GPUAddress()
	s.stage.set("nvmlDeviceGetVgpuMetadata")
	md, ret := dev.GetVgpuMetadata()
	if f := vgpuCallFailure("nvmlDeviceGetVgpuMetadata", addr, ret); f != nil {
		return nil, layout.Pgpu{}, f
	}
	b, err := layout.PgpuBytes(&md)
	if err != nil {
		return nil, layout.Pgpu{}, failed("nvmlDeviceGetVgpuMetadata(%s): %v", addr, err)
	}
	info, err := layout.CheckPgpu(b, maxOpaque)
	if err != nil {
		return nil, layout.Pgpu{}, notMigratable("E2BIG", "the GPU metadata of %s cannot be used: %v", addr, err)
	}
	return b, info, nil
}
