package helper

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Subject is the device or type slot the agent asks about (docs/exec-backend.md, "Invocation").
// Unknown fields are ignored, as the contract asks.
type Subject struct {
	Subject string `json:"subject"` // device | type
	Kind    string `json:"kind"`    // mdev | vfio-pci (devices only)
	ID      string `json:"id"`      // mdev UUID, or the VF's PCI address
	Parent  struct {
		Address string `json:"address"`
	} `json:"parent"`
	Type struct {
		ID string `json:"id"`
	} `json:"type"`
	SysfsPath    string `json:"sysfsPath"`
	CreatePath   string `json:"createPath"`
	TypeAttrPath string `json:"typeAttrPath"`
}

var (
	uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	pciPattern  = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
)

// ParseSubject decodes and validates the subject argument.
func ParseSubject(raw string) (Subject, error) {
	var s Subject
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, fmt.Errorf("subject is not a JSON object: %v", err)
	}
	switch {
	case s.Subject != "device" && s.Subject != "type":
		return s, fmt.Errorf("subject %q is neither device nor type", s.Subject)
	case s.Subject == "device" && s.Kind == "mdev" && !uuidPattern.MatchString(s.ID):
		return s, fmt.Errorf("mdev id %q is not a canonical UUID", s.ID)
	case s.Subject == "device" && s.Kind == "vfio-pci" && !pciPattern.MatchString(s.ID):
		return s, fmt.Errorf("VF id %q is not a PCI address", s.ID)
	case s.Subject == "device" && s.Kind != "mdev" && s.Kind != "vfio-pci":
		return s, fmt.Errorf("device kind %q is neither mdev nor vfio-pci", s.Kind)
	case !pciPattern.MatchString(s.Parent.Address):
		return s, fmt.Errorf("parent %q is not a PCI address, so not an NVIDIA GPU", s.Parent.Address)
	case !typeIDPattern.MatchString(s.Type.ID) || strings.Contains(s.Type.ID, ".."):
		return s, fmt.Errorf("type id %q is not an mdev type name", s.Type.ID)
	}
	return s, nil
}

// Describe names the subject in messages, as the agent does (`mdev <uuid> on <parent>`).
func (s Subject) Describe() string {
	if s.Subject == "type" {
		return fmt.Sprintf("type %s on %s", s.Type.ID, s.Parent.Address)
	}
	return fmt.Sprintf("%s %s on %s", s.Kind, s.ID, s.Parent.Address)
}

// GPUAddress is the PCI address of the physical GPU NVML knows the subject's parent by. On SR-IOV
// GPUs (Ampere and newer) mdev types and vendor-VFIO vGPUs live on virtual functions, which NVML
// does not list; their `physfn` link names the GPU. Without the link the parent is the GPU.
func (s Subject) GPUAddress() string {
	dir := s.parentDir()
	if dir == "" {
		return s.Parent.Address
	}
	target, err := os.Readlink(filepath.Join(dir, "physfn"))
	if err != nil {
		return s.Parent.Address
	}
	if pf := filepath.Base(target); pciPattern.MatchString(pf) {
		return pf
	}
	return s.Parent.Address
}

// parentDir is the parent's sysfs directory as the agent verified it, when the subject carries one.
func (s Subject) parentDir() string {
	var dir string
	switch {
	case s.Subject == "device" && s.Kind == "vfio-pci":
		dir = s.SysfsPath
	case s.Subject == "device":
		dir = filepath.Dir(s.SysfsPath)
	case s.CreatePath != "":
		dir = filepath.Dir(filepath.Dir(filepath.Dir(s.CreatePath))) // <parent>/mdev_supported_types/<type>/create
	case s.TypeAttrPath != "":
		dir = filepath.Dir(filepath.Dir(filepath.Dir(s.TypeAttrPath)))
	}
	if dir == "" || dir == "." || filepath.Base(dir) != s.Parent.Address {
		return ""
	}
	return dir
}
