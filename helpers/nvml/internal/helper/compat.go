package helper

import (
	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/layout"
)

// Verdict is test's answer: accepted, with a line saying why either way.
type Verdict struct {
	Accepted bool
	Reason   string
}

// test answers `test` for a source already decoded and checked by DecodeInstance: the target
// GPU's metadata and nvmlGetVgpuCompatibility decide; accepted iff LIVE is among the states.
func (s *session) test(subject Subject, source []byte, src layout.Vgpu) (Verdict, *Failure) {
	dev, f := s.gpu(subject)
	if f != nil {
		return Verdict{}, f
	}
	pgpu, dst, f := s.pgpuMetadata(dev, subject)
	if f != nil {
		return Verdict{}, f
	}
	if !dst.MigrationCapable {
		return Verdict{}, notMigratable("ENODEV", "the GPU at %s does not support vGPU migration (pgpuVirtualizationCaps: migration NO)", subject.GPUAddress())
	}
	s.stage.set("nvmlGetVgpuCompatibility")
	info, ret := s.lib.GetVgpuCompatibility(layout.CVgpu(source), layout.CPgpu(pgpu))
	if ret != nvml.SUCCESS {
		return Verdict{}, failed("nvmlGetVgpuCompatibility for %s failed: %v", subject.Describe(), ret)
	}
	if info.VgpuVmCompatibility&uint32(nvml.VGPU_VM_COMPATIBILITY_LIVE) != 0 {
		return Verdict{Accepted: true, Reason: "NVML allows live migration to " + subject.Describe() + " (" + statesOf(info.VgpuVmCompatibility) + ")"}, nil
	}
	return Verdict{Reason: "EINVAL: " + limitReason(info, src, dst, subject)}, nil
}
