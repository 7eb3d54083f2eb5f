package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGPUAddressFollowsTheParentsPhysfnLink(t *testing.T) {
	root := t.TempDir()
	vf := filepath.Join(root, "devices", "pci0000:40", "0000:41:00.4")
	if err := os.MkdirAll(filepath.Join(vf, "mdev_supported_types", "nvidia-1012"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../0000:41:00.0", filepath.Join(vf, "physfn")); err != nil {
		t.Fatal(err)
	}
	mdev := Subject{Subject: "device", Kind: "mdev", SysfsPath: filepath.Join(vf, "6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11")}
	mdev.Parent.Address = "0000:41:00.4"
	slot := Subject{Subject: "type", CreatePath: filepath.Join(vf, "mdev_supported_types", "nvidia-1012", "create")}
	slot.Parent.Address = "0000:41:00.4"
	vendorVF := Subject{Subject: "device", Kind: "vfio-pci", SysfsPath: vf}
	vendorVF.Parent.Address = "0000:41:00.4"
	for name, s := range map[string]Subject{"mdev on a VF": mdev, "type slot on a VF": slot, "vendor-VFIO VF": vendorVF} {
		if got := s.GPUAddress(); got != "0000:41:00.0" {
			t.Errorf("%s: GPU %s, want the physical function 0000:41:00.0", name, got)
		}
	}
	pf := Subject{Subject: "device", Kind: "mdev", SysfsPath: filepath.Join(root, "devices", "0000:42:00.0", "uuid")}
	pf.Parent.Address = "0000:42:00.0"
	if got := pf.GPUAddress(); got != "0000:42:00.0" {
		t.Errorf("a parent without physfn is the GPU itself, got %s", got)
	}
	mismatch := Subject{Subject: "device", Kind: "mdev", SysfsPath: filepath.Join(vf, "uuid")}
	mismatch.Parent.Address = "0000:43:00.0"
	if got := mismatch.GPUAddress(); got != "0000:43:00.0" {
		t.Errorf("a sysfs path of another parent is not followed, got %s", got)
	}
}

func TestVersionStringsBeyondTheLimitAreNotPublished(t *testing.T) {
	big := make([]byte, 3100)
	if _, err := EncodeInstance(big); err == nil || !strings.Contains(err.Error(), "more than the 4095") {
		t.Errorf("EncodeInstance of 3100 bytes: %v", err)
	}
	if _, err := EncodeClass(make([]byte, 2900), "nvidia-1012"); err != nil {
		t.Errorf("EncodeClass of 2900 bytes fits: %v", err)
	}
	if s, err := EncodeInstance(make([]byte, 3000)); err != nil || len(s) > MaxVersionBytes {
		t.Errorf("3000 bytes encode to %d characters (%v)", len(s), err)
	}
}
