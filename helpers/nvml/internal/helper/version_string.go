package helper

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"

	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/layout"
)

// The two kinds of string the helper publishes (docs/nvml-backend.md):
//
//	nvml-vgpu.1.<base64url>            a running vGPU's nvmlVgpuInstanceGetMetadata: a migration source
//	nvml-pgpu.1.<base64url>.<type id>  a free device's class key: its GPU's nvmlDeviceGetVgpuMetadata
//	                                   and the mdev type a VM would get there
//
// "1" is the layout version: the C layout of nvmlVgpuMetadata_t / nvmlVgpuPgpuMetadata_t as in
// nvml.h of go-nvml v0.13.3-0 (internal/layout). A future layout gets a new number, and a helper
// refuses numbers it does not know instead of handing NVML bytes it would misread.
const (
	instancePrefix = "nvml-vgpu."
	classPrefix    = "nvml-pgpu."
	layoutVersion  = "1"
	// MaxVersionBytes is the protocol's limit for a version string (DESIGN §3; src/api/validation.ts).
	MaxVersionBytes = 4095
)

// maxOpaque bounds the opaque bytes of a decoded source, so no layout that could not have come
// from a publishable string reaches NVML.
var maxOpaque = base64.RawURLEncoding.DecodedLen(MaxVersionBytes-len(instancePrefix)-len(layoutVersion)-1) - layout.VgpuFixedSize

var typeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$`)

// EncodeInstance is the version string of a running vGPU, from its metadata's C layout.
func EncodeInstance(b []byte) (string, error) {
	return bounded(instancePrefix + layoutVersion + "." + base64.RawURLEncoding.EncodeToString(b))
}

// EncodeClass is the class key of a free device of typeID on a GPU, from the GPU's metadata.
func EncodeClass(b []byte, typeID string) (string, error) {
	return bounded(classPrefix + layoutVersion + "." + base64.RawURLEncoding.EncodeToString(b) + "." + typeID)
}

func bounded(s string) (string, error) {
	if len(s) > MaxVersionBytes {
		return "", fmt.Errorf("NVML's metadata encodes to %d characters, more than the %d a version string may have", len(s), MaxVersionBytes)
	}
	return s, nil
}

// NotMetadata is the refusal of a source string, given before any NVML call.
type NotMetadata struct{ Detail string }

func (e *NotMetadata) Error() string {
	return "not an NVML vGPU metadata string: " + e.Detail
}

// DecodeInstance checks a source string completely (prefix, layout version, base64url, sizes,
// fields) and returns the metadata's C layout and readable fields.
func DecodeInstance(s string) ([]byte, layout.Vgpu, error) {
	refuse := func(format string, a ...any) ([]byte, layout.Vgpu, error) {
		return nil, layout.Vgpu{}, &NotMetadata{Detail: fmt.Sprintf(format, a...)}
	}
	if len(s) > MaxVersionBytes {
		return refuse("%d bytes, more than %d", len(s), MaxVersionBytes)
	}
	if strings.HasPrefix(s, classPrefix) {
		return refuse("it is a free device's class key (%s...), not a running vGPU's metadata; only a device whose VM is running can be a migration source", classPrefix)
	}
	rest, ok := strings.CutPrefix(s, instancePrefix)
	if !ok {
		return refuse("it does not start with %q", instancePrefix)
	}
	version, payload, ok := strings.Cut(rest, ".")
	if !ok || version != layoutVersion {
		return refuse("layout version %q is not %s, the nvmlVgpuMetadata_t layout this helper knows (a newer helper wrote it?)", clip(version), layoutVersion)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return refuse("the payload is not unpadded base64url: %v", err)
	}
	info, err := layout.CheckVgpu(b, maxOpaque)
	if err != nil {
		return refuse("nvmlVgpuMetadata_t: %v", err)
	}
	return b, info, nil
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}
