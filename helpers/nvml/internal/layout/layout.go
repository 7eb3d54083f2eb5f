// Package layout holds the byte layout of NVML's two vGPU migration structures and the one place
// that hands them to nvmlGetVgpuCompatibility the way NVML reads them.
//
// Source: nvml.h as vendored by github.com/NVIDIA/go-nvml v0.13.3-0 (pkg/nvml/nvml.h, group
// "vGPU Migration"): nvmlVgpuMetadata_t and nvmlVgpuPgpuMetadata_t both end in
// `unsigned int opaqueDataSize; char opaqueData[4];`, a placeholder for opaqueDataSize bytes that
// follow the fixed part. go-nvml mirrors them as nvmlVgpuMetadata / nvmlVgpuPgpuMetadata
// (pkg/nvml/types_gen.go) and wraps them as VgpuMetadata / VgpuPgpuMetadata with the opaque bytes
// in a separate OpaqueData slice (pkg/nvml/vgpu.go).
//
// The strings are built from the C layout in native byte order: every node that runs NVIDIA vGPU
// (x86_64, arm64) is little-endian.
package layout

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Offsets into nvmlVgpuMetadata_t (nvml.h): version, revision, guestInfoState, then
// guestDriverVersion[80] and hostDriverVersion[80] (NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE),
// reserved[6], vgpuVirtualizationCaps, guestVgpuVersion, opaqueDataSize, opaqueData.
const (
	VgpuOffGuestInfoState = 8
	VgpuOffGuestDriver    = 12
	VgpuOffHostDriver     = 92
	VgpuOffCaps           = 196
	VgpuOffGuestVgpu      = 200
	VgpuOffOpaqueSize     = 204
	// VgpuFixedSize is where the opaque data starts: the struct without its opaqueData[4] placeholder.
	VgpuFixedSize = 208
)

// Offsets into nvmlVgpuPgpuMetadata_t (nvml.h): version, revision, hostDriverVersion[80],
// pgpuVirtualizationCaps, reserved[5], hostSupportedVgpuRange {minVersion, maxVersion},
// opaqueDataSize, opaqueData.
const (
	PgpuOffHostDriver = 8
	PgpuOffCaps       = 88
	PgpuOffRangeMin   = 112
	PgpuOffRangeMax   = 116
	PgpuOffOpaqueSize = 120
	PgpuFixedSize     = 124
)

const driverVersionLen = nvml.SYSTEM_DRIVER_VERSION_BUFFER_SIZE

// MigrationCapBit is bit 0 of vgpuVirtualizationCaps / pgpuVirtualizationCaps:
// NVML_VGPU_VIRTUALIZATION_CAP_MIGRATION and NVML_VGPU_PGPU_VIRTUALIZATION_CAP_MIGRATION (0:0, YES = 1).
const MigrationCapBit = 0x1

// VgpuBytes is m in NVML's C layout: the fixed part followed by opaqueDataSize opaque bytes.
func VgpuBytes(m *nvml.VgpuMetadata) ([]byte, error) {
	// The embedded nvmlVgpuMetadata sits at offset 0 of VgpuMetadata and has the C layout.
	fixed := unsafe.Slice((*byte)(unsafe.Pointer(m)), VgpuFixedSize)
	return withOpaque(fixed, m.OpaqueDataSize, m.OpaqueData)
}

// PgpuBytes is m in NVML's C layout: the fixed part followed by opaqueDataSize opaque bytes.
func PgpuBytes(m *nvml.VgpuPgpuMetadata) ([]byte, error) {
	fixed := unsafe.Slice((*byte)(unsafe.Pointer(m)), PgpuFixedSize)
	return withOpaque(fixed, m.OpaqueDataSize, m.OpaqueData)
}

func withOpaque(fixed []byte, size uint32, opaque []byte) ([]byte, error) {
	if int(size) > len(opaque) {
		return nil, fmt.Errorf("NVML reported %d bytes of opaque data but returned %d", size, len(opaque))
	}
	out := make([]byte, 0, len(fixed)+int(size))
	out = append(out, fixed...)
	return append(out, opaque[:size]...), nil
}

// CVgpu returns b (a checked C layout, see CheckVgpu) as the argument nvmlGetVgpuCompatibility
// reads. go-nvml's GetVgpuCompatibility passes &vgpuMetadata.nvmlVgpuMetadata to C (vgpu.go,
// v0.13.3-0), i.e. only the fixed struct; NVML reads opaqueDataSize bytes from its opaqueData
// field onwards. So the opaque data must follow the fixed part in memory, as it did in the buffer
// go-nvml's GetMetadata let NVML fill. The Go view of the result must not be used to read
// OpaqueData (the slice header overlaps the opaque bytes): read them with VgpuOpaque.
func CVgpu(b []byte) *nvml.VgpuMetadata {
	buf := make([]byte, max(len(b), int(unsafe.Sizeof(nvml.VgpuMetadata{}))))
	copy(buf, b)
	return (*nvml.VgpuMetadata)(unsafe.Pointer(&buf[0]))
}

// CPgpu is CVgpu for the physical GPU's metadata.
func CPgpu(b []byte) *nvml.VgpuPgpuMetadata {
	buf := make([]byte, max(len(b), int(unsafe.Sizeof(nvml.VgpuPgpuMetadata{}))))
	copy(buf, b)
	return (*nvml.VgpuPgpuMetadata)(unsafe.Pointer(&buf[0]))
}

// VgpuOpaque reads the opaque bytes after the fixed part of a value made by CVgpu, as NVML does.
func VgpuOpaque(m *nvml.VgpuMetadata) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(m), VgpuFixedSize)), m.OpaqueDataSize)
}

// PgpuOpaque reads the opaque bytes after the fixed part of a value made by CPgpu, as NVML does.
func PgpuOpaque(m *nvml.VgpuPgpuMetadata) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(m), PgpuFixedSize)), m.OpaqueDataSize)
}

// Vgpu is what the helper reads from a vGPU's metadata to word its answers.
type Vgpu struct {
	GuestInfoInitialized bool
	GuestDriver          string
	HostDriver           string
	MigrationCapable     bool
	GuestVgpuVersion     uint32
}

// Pgpu is what the helper reads from a physical GPU's metadata to word its answers.
type Pgpu struct {
	HostDriver       string
	MigrationCapable bool
	RangeMin         uint32
	RangeMax         uint32
}

var native = binary.NativeEndian

// CheckVgpu validates b as an nvmlVgpuMetadata_t layout and returns its readable fields.
func CheckVgpu(b []byte, maxOpaque int) (Vgpu, error) {
	if err := checkSize(b, VgpuFixedSize, VgpuOffOpaqueSize, maxOpaque); err != nil {
		return Vgpu{}, err
	}
	state := native.Uint32(b[VgpuOffGuestInfoState:])
	// nvmlVgpuGuestInfoState_t: UNINITIALIZED = 0, INITIALIZED = 1.
	if state > 1 {
		return Vgpu{}, fmt.Errorf("guestInfoState %d is neither UNINITIALIZED (0) nor INITIALIZED (1)", state)
	}
	guest, err := cString(b[VgpuOffGuestDriver:VgpuOffGuestDriver+driverVersionLen], "guestDriverVersion")
	if err != nil {
		return Vgpu{}, err
	}
	host, err := cString(b[VgpuOffHostDriver:VgpuOffHostDriver+driverVersionLen], "hostDriverVersion")
	if err != nil {
		return Vgpu{}, err
	}
	return Vgpu{
		GuestInfoInitialized: state == 1,
		GuestDriver:          guest,
		HostDriver:           host,
		MigrationCapable:     native.Uint32(b[VgpuOffCaps:])&MigrationCapBit != 0,
		GuestVgpuVersion:     native.Uint32(b[VgpuOffGuestVgpu:]),
	}, nil
}

// CheckPgpu validates b as an nvmlVgpuPgpuMetadata_t layout and returns its readable fields.
func CheckPgpu(b []byte, maxOpaque int) (Pgpu, error) {
	if err := checkSize(b, PgpuFixedSize, PgpuOffOpaqueSize, maxOpaque); err != nil {
		return Pgpu{}, err
	}
	host, err := cString(b[PgpuOffHostDriver:PgpuOffHostDriver+driverVersionLen], "hostDriverVersion")
	if err != nil {
		return Pgpu{}, err
	}
	return Pgpu{
		HostDriver:       host,
		MigrationCapable: native.Uint32(b[PgpuOffCaps:])&MigrationCapBit != 0,
		RangeMin:         native.Uint32(b[PgpuOffRangeMin:]),
		RangeMax:         native.Uint32(b[PgpuOffRangeMax:]),
	}, nil
}

func checkSize(b []byte, fixed, sizeOff, maxOpaque int) error {
	if len(b) < fixed {
		return fmt.Errorf("%d bytes, shorter than the %d-byte fixed part", len(b), fixed)
	}
	declared := int(native.Uint32(b[sizeOff:]))
	if declared != len(b)-fixed {
		return fmt.Errorf("opaqueDataSize says %d bytes but %d follow the fixed part", declared, len(b)-fixed)
	}
	if declared > maxOpaque {
		return fmt.Errorf("%d bytes of opaque data, more than the %d a version string can carry", declared, maxOpaque)
	}
	return nil
}

// cString reads a NUL-terminated char[] field; the text must be printable ASCII.
func cString(field []byte, name string) (string, error) {
	end := 0
	for end < len(field) && field[end] != 0 {
		c := field[end]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("%s holds byte 0x%02x; NVML writes printable text", name, c)
		}
		end++
	}
	if end == len(field) {
		return "", fmt.Errorf("%s is not NUL-terminated within %d bytes", name, len(field))
	}
	return string(field[:end]), nil
}

// ReadCVgpu is the C layout NVML reads from a value made by CVgpu: fixed part and opaque bytes.
func ReadCVgpu(m *nvml.VgpuMetadata) []byte {
	fixed := unsafe.Slice((*byte)(unsafe.Pointer(m)), VgpuFixedSize)
	return append(append([]byte{}, fixed...), VgpuOpaque(m)...)
}

// ReadCPgpu is the C layout NVML reads from a value made by CPgpu: fixed part and opaque bytes.
func ReadCPgpu(m *nvml.VgpuPgpuMetadata) []byte {
	fixed := unsafe.Slice((*byte)(unsafe.Pointer(m)), PgpuFixedSize)
	return append(append([]byte{}, fixed...), PgpuOpaque(m)...)
}
