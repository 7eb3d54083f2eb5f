package helper

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/layout"
)

// The words for nvmlVgpuVmCompatibility_t (bit flags, nvml.h: NONE 0x0, COLD 0x1, HIBERNATE 0x2,
// SLEEP 0x4, LIVE 0x8) and nvmlVgpuPgpuCompatibilityLimitCode_t (HOST_DRIVER 0x1, GUEST_DRIVER
// 0x2, GPU 0x4, OTHER 0x80000000), as go-nvml names them in pkg/nvml/const.go. go-nvml declares
// the limit codes as int32, so OTHER is -2147483648 there; in the uint32 CompatibilityLimitCode of
// nvml.VgpuPgpuCompatibility it arrives as 0x80000000, and any bit without a name is worded as OTHER.
var states = []struct {
	bit  nvml.VgpuVmCompatibility
	name string
}{
	{nvml.VGPU_VM_COMPATIBILITY_LIVE, "LIVE"},
	{nvml.VGPU_VM_COMPATIBILITY_SLEEP, "SLEEP"},
	{nvml.VGPU_VM_COMPATIBILITY_HIBERNATE, "HIBERNATE"},
	{nvml.VGPU_VM_COMPATIBILITY_COLD, "COLD"},
}

// statesOf lists the VM states NVML allows, e.g. "COLD only" or "LIVE, SLEEP, HIBERNATE, COLD".
func statesOf(c uint32) string {
	var names []string
	for _, s := range states {
		if c&uint32(s.bit) != 0 {
			names = append(names, s.name)
		}
	}
	switch len(names) {
	case 0:
		return "compatibility NONE: the VM cannot run there in any state"
	case 1:
		return "compatibility " + names[0] + " only"
	default:
		return "compatibility " + strings.Join(names, ", ")
	}
}

// limitReason is the rejection in an operator's words: the limiting factor by NVML's name, what
// the two metadata say about it, and what to do.
func limitReason(info nvml.VgpuPgpuCompatibility, src layout.Vgpu, dst layout.Pgpu, subject Subject) string {
	code := info.CompatibilityLimitCode
	allowed := statesOf(info.VgpuVmCompatibility)
	var parts []string
	if code&uint32(nvml.VGPU_COMPATIBILITY_LIMIT_HOST_DRIVER) != 0 {
		parts = append(parts, "HOST_DRIVER: "+hostDriverWords(src.HostDriver, dst.HostDriver))
	}
	if code&uint32(nvml.VGPU_COMPATIBILITY_LIMIT_GUEST_DRIVER) != 0 {
		parts = append(parts, "GUEST_DRIVER: "+guestDriverWords(src, dst))
	}
	if code&uint32(nvml.VGPU_COMPATIBILITY_LIMIT_GPU) != 0 {
		parts = append(parts, fmt.Sprintf("GPU: the GPU at %s is not the GPU model the vGPU runs on; NVIDIA migrates vGPUs only between identical GPU boards: choose a node with the same GPU", subject.GPUAddress()))
	}
	named := uint32(nvml.VGPU_COMPATIBILITY_LIMIT_HOST_DRIVER | nvml.VGPU_COMPATIBILITY_LIMIT_GUEST_DRIVER | nvml.VGPU_COMPATIBILITY_LIMIT_GPU)
	if len(parts) == 0 || code&^named != 0 {
		parts = append(parts, fmt.Sprintf("OTHER: NVML names no defined limiting factor (limit code 0x%x); the vGPU Manager's log (nvidia-vgpu-mgr) on this host says more", code))
	}
	return strings.Join(parts, "; ") + " (" + allowed + ", live migration needs LIVE)"
}

func hostDriverWords(src, dst string) string {
	sb, db := branch(src), branch(dst)
	switch {
	case sb != "" && db != "" && sb != db:
		return fmt.Sprintf("host driver branch differs (source host %s, this host %s): live migration stays within one vGPU Manager branch; move the VM to a host of branch %s", src, dst, sb)
	case src != dst:
		return fmt.Sprintf("this host's vGPU Manager %s does not accept vGPUs from %s (a target must run the same or a newer release of the branch): upgrade this host", dst, src)
	default:
		return fmt.Sprintf("the vGPU Managers (source host %s, this host %s) are not compatible", src, dst)
	}
}

func guestDriverWords(src layout.Vgpu, dst layout.Pgpu) string {
	guest := src.GuestDriver
	if guest == "" {
		guest = "(not reported)"
	}
	return fmt.Sprintf("the VM's guest driver %s negotiated vGPU version %s, outside the range %s-%s this host's vGPU Manager %s supports: update the guest driver, or move the VM to a host whose vGPU Manager supports %s",
		guest, hex(src.GuestVgpuVersion), hex(dst.RangeMin), hex(dst.RangeMax), dst.HostDriver, hex(src.GuestVgpuVersion))
}

// branch is the major number of a driver version (550 of 550.54.15), or "" when there is none.
func branch(version string) string {
	major, _, _ := strings.Cut(version, ".")
	if _, err := strconv.Atoi(major); err != nil {
		return ""
	}
	return major
}

func hex(v uint32) string {
	return fmt.Sprintf("0x%x", v)
}
