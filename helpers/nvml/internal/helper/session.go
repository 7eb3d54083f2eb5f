package helper

import (
	"fmt"
	"os"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// requiredSymbols are the NVML entry points the helper calls. go-nvml opens libnvidia-ml.so.1
// with RTLD_LAZY (pkg/nvml/lib.go), so calling one that an old driver lacks would end the process
// at the call; each is looked up first (ExtendedInterface.LookupSymbol) to name what is missing.
var requiredSymbols = []string{
	"nvmlDeviceGetHandleByPciBusId_v2",
	"nvmlDeviceGetActiveVgpus",
	"nvmlVgpuInstanceGetMdevUUID",
	"nvmlVgpuInstanceGetMetadata",
	"nvmlDeviceGetVgpuMetadata",
	"nvmlGetVgpuCompatibility",
}

// Failure is an answer the helper gives instead of a version or a verdict: a state of the host
// that makes the device not migratable (Exit 1) or an error that is no verdict (Exit 2).
type Failure struct {
	Exit   int
	Errno  string // for test's rejection line: ENODEV, EINVAL, ...
	Reason string
}

func (f *Failure) Error() string { return f.Reason }

func notMigratable(errno, format string, a ...any) *Failure {
	return &Failure{Exit: 1, Errno: errno, Reason: fmt.Sprintf(format, a...)}
}

func failed(format string, a ...any) *Failure {
	return &Failure{Exit: 2, Errno: "EIO", Reason: fmt.Sprintf(format, a...)}
}

// libraryName is the NVML library the helper loads (cmd/mdev-nvml-helper: MDEV_NVML_LIBRARY).
func libraryName() string {
	if path := os.Getenv("MDEV_NVML_LIBRARY"); path != "" {
		return path
	}
	return "libnvidia-ml.so.1"
}

// session is an initialised NVML; close it with Shutdown.
type session struct {
	lib   nvml.Interface
	stage *stage
}

// openSession initialises NVML and checks that the driver has the vGPU migration API.
func openSession(lib nvml.Interface, st *stage) (*session, *Failure) {
	st.set("nvmlInit")
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return nil, notMigratable("ENODEV", "%s not found: run the agent with the NVIDIA container toolkit (runtimeClassName nvidia, NVIDIA_DRIVER_CAPABILITIES=utility) on a host with the NVIDIA vGPU Manager", libraryName())
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return nil, notMigratable("ENODEV", "the NVIDIA kernel driver is not loaded on this host (nvmlInit: %v): install and load the NVIDIA vGPU Manager for KVM", ret)
	case nvml.ERROR_NO_PERMISSION:
		return nil, notMigratable("EACCES", "no permission to open the NVIDIA device nodes (nvmlInit: %v): the agent container needs /dev/nvidiactl (NVIDIA container toolkit, NVIDIA_VISIBLE_DEVICES=all)", ret)
	default:
		return nil, failed("nvmlInit failed: %v", ret)
	}
	s := &session{lib: lib, stage: st}
	if f := s.checkSymbols(); f != nil {
		s.close()
		return nil, f
	}
	return s, nil
}

func (s *session) checkSymbols() *Failure {
	ext := s.lib.Extensions()
	for _, name := range requiredSymbols {
		if err := ext.LookupSymbol(name); err != nil {
			return notMigratable("ENODEV", "the host's NVIDIA driver %s is too old for vGPU migration: libnvidia-ml.so.1 has no %s; upgrade the vGPU Manager", s.driverVersion(), name)
		}
	}
	return nil
}

func (s *session) driverVersion() string {
	s.stage.set("nvmlSystemGetDriverVersion")
	v, ret := s.lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return "(version unknown)"
	}
	return v
}

func (s *session) close() {
	s.stage.set("nvmlShutdown")
	s.lib.Shutdown()
}

// gpu is the NVML handle of the physical GPU behind a subject.
func (s *session) gpu(subject Subject) (nvml.Device, *Failure) {
	addr := subject.GPUAddress()
	s.stage.set("nvmlDeviceGetHandleByPciBusId")
	dev, ret := s.lib.DeviceGetHandleByPciBusId(addr)
	switch ret {
	case nvml.SUCCESS:
		return dev, nil
	case nvml.ERROR_NOT_FOUND, nvml.ERROR_INVALID_ARGUMENT:
		return nil, notMigratable("ENODEV", "NVML knows no GPU at %s (%v): is the GPU bound to the nvidia driver of the vGPU Manager?", addr, ret)
	default:
		return nil, failed("nvmlDeviceGetHandleByPciBusId(%s) failed: %v", addr, ret)
	}
}

// vgpuCallFailure words the result of a per-GPU vGPU call: nil on success; NOT_SUPPORTED, which
// nvml.h documents as "vGPU is not supported by the system", means the GPU runs a driver without
// the vGPU Manager.
func vgpuCallFailure(call, addr string, ret nvml.Return) *Failure {
	switch ret {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_NOT_SUPPORTED:
		return notMigratable("ENODEV", "the GPU at %s does not run the NVIDIA vGPU Manager (%s: vGPU not supported): install the vGPU Manager for KVM on this host", addr, call)
	default:
		return failed("%s(%s) failed: %v", call, addr, ret)
	}
}
