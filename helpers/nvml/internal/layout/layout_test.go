package layout

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// The offsets this package writes and reads must be the ones of go-nvml's generated structs,
// which cgo generated from nvml.h: a different go-nvml version with another layout fails here.
func TestOffsetsMatchGoNvmlStructs(t *testing.T) {
	var v nvml.VgpuMetadata
	vgpu := map[string][2]uintptr{
		"guestInfoState":         {unsafe.Offsetof(v.GuestInfoState), VgpuOffGuestInfoState},
		"guestDriverVersion":     {unsafe.Offsetof(v.GuestDriverVersion), VgpuOffGuestDriver},
		"hostDriverVersion":      {unsafe.Offsetof(v.HostDriverVersion), VgpuOffHostDriver},
		"vgpuVirtualizationCaps": {unsafe.Offsetof(v.VgpuVirtualizationCaps), VgpuOffCaps},
		"guestVgpuVersion":       {unsafe.Offsetof(v.GuestVgpuVersion), VgpuOffGuestVgpu},
		"opaqueDataSize":         {unsafe.Offsetof(v.OpaqueDataSize), VgpuOffOpaqueSize},
	}
	var p nvml.VgpuPgpuMetadata
	pgpu := map[string][2]uintptr{
		"hostDriverVersion":      {unsafe.Offsetof(p.HostDriverVersion), PgpuOffHostDriver},
		"pgpuVirtualizationCaps": {unsafe.Offsetof(p.PgpuVirtualizationCaps), PgpuOffCaps},
		"hostSupportedVgpuRange": {unsafe.Offsetof(p.HostSupportedVgpuRange), PgpuOffRangeMin},
		"opaqueDataSize":         {unsafe.Offsetof(p.OpaqueDataSize), PgpuOffOpaqueSize},
	}
	for name, got := range vgpu {
		if got[0] != got[1] {
			t.Errorf("nvmlVgpuMetadata.%s at %d, layout says %d", name, got[0], got[1])
		}
	}
	for name, got := range pgpu {
		if got[0] != got[1] {
			t.Errorf("nvmlVgpuPgpuMetadata.%s at %d, layout says %d", name, got[0], got[1])
		}
	}
	if got := unsafe.Offsetof(v.OpaqueDataSize) + 4; got != VgpuFixedSize {
		t.Errorf("vGPU opaque data starts at %d, layout says %d", got, VgpuFixedSize)
	}
	if got := unsafe.Offsetof(p.OpaqueDataSize) + 4; got != PgpuFixedSize {
		t.Errorf("pGPU opaque data starts at %d, layout says %d", got, PgpuFixedSize)
	}
}

func chars(s string) [nvml.SYSTEM_DRIVER_VERSION_BUFFER_SIZE]int8 {
	var out [nvml.SYSTEM_DRIVER_VERSION_BUFFER_SIZE]int8
	for i := range s {
		out[i] = int8(s[i])
	}
	return out
}

func sampleVgpu(opaque string) nvml.VgpuMetadata {
	var m nvml.VgpuMetadata
	m.Version = 1
	m.GuestInfoState = 1
	m.GuestDriverVersion = chars("550.54.15")
	m.HostDriverVersion = chars("550.90.07")
	m.VgpuVirtualizationCaps = MigrationCapBit
	m.GuestVgpuVersion = 0x12
	m.OpaqueData = []byte(opaque)
	m.OpaqueDataSize = uint32(len(opaque))
	return m
}

func TestVgpuRoundTripThroughTheContiguousCopyNvmlReads(t *testing.T) {
	opaque := strings.Repeat("state-", 20) // longer than the 4-byte placeholder and the slice header
	m := sampleVgpu(opaque)
	b, err := VgpuBytes(&m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != VgpuFixedSize+len(opaque) {
		t.Fatalf("layout is %d bytes, want %d", len(b), VgpuFixedSize+len(opaque))
	}
	info, err := CheckVgpu(b, 4096)
	if err != nil {
		t.Fatal(err)
	}
	want := Vgpu{GuestInfoInitialized: true, GuestDriver: "550.54.15", HostDriver: "550.90.07", MigrationCapable: true, GuestVgpuVersion: 0x12}
	if info != want {
		t.Errorf("fields %+v, want %+v", info, want)
	}
	c := CVgpu(b)
	if c.OpaqueDataSize != uint32(len(opaque)) || string(VgpuOpaque(c)) != opaque {
		t.Errorf("contiguous copy carries %d opaque bytes %q", c.OpaqueDataSize, VgpuOpaque(c))
	}
	if !bytes.Equal(ReadCVgpu(c), b) {
		t.Error("what NVML reads from the contiguous copy differs from the layout")
	}
}

func TestPgpuRoundTripThroughTheContiguousCopyNvmlReads(t *testing.T) {
	var m nvml.VgpuPgpuMetadata
	m.HostDriverVersion = chars("535.161.08")
	m.PgpuVirtualizationCaps = MigrationCapBit
	m.HostSupportedVgpuRange = nvml.VgpuVersion{MinVersion: 0x10, MaxVersion: 0x13}
	m.OpaqueData = []byte("board=H100-PCIE-80GB;and-more-opaque-state")
	m.OpaqueDataSize = uint32(len(m.OpaqueData))
	b, err := PgpuBytes(&m)
	if err != nil {
		t.Fatal(err)
	}
	info, err := CheckPgpu(b, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Pgpu{HostDriver: "535.161.08", MigrationCapable: true, RangeMin: 0x10, RangeMax: 0x13}); info != want {
		t.Errorf("fields %+v, want %+v", info, want)
	}
	c := CPgpu(b)
	if string(PgpuOpaque(c)) != string(m.OpaqueData) || !bytes.Equal(ReadCPgpu(c), b) {
		t.Error("the contiguous copy does not carry the opaque data after the fixed part")
	}
}

func TestLayoutRefusesOpaqueSizeBeyondWhatNvmlReturned(t *testing.T) {
	m := sampleVgpu("abc")
	m.OpaqueDataSize = 10
	if _, err := VgpuBytes(&m); err == nil || !strings.Contains(err.Error(), "10 bytes of opaque data but returned 3") {
		t.Errorf("got %v", err)
	}
}

func TestCheckVgpuRefusesMalformedLayouts(t *testing.T) {
	m := sampleVgpu("opaque")
	good, _ := VgpuBytes(&m)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"short":            {good[:100], "shorter than the 208-byte fixed part"},
		"size mismatch":    {mutate(func(b []byte) []byte { return b[:len(b)-1] }), "opaqueDataSize says 6 bytes but 5 follow"},
		"guest info state": {mutate(func(b []byte) []byte { b[VgpuOffGuestInfoState] = 7; return b }), "guestInfoState 7"},
		"unterminated":     {mutate(func(b []byte) []byte { copy(b[VgpuOffHostDriver:], bytes.Repeat([]byte("9"), 80)); return b }), "hostDriverVersion is not NUL-terminated"},
		"control byte":     {mutate(func(b []byte) []byte { b[VgpuOffGuestDriver] = '\n'; return b }), "guestDriverVersion holds byte 0x0a"},
	}
	for name, c := range cases {
		if _, err := CheckVgpu(c.b, 4096); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
	if _, err := CheckVgpu(good, 5); err == nil || !strings.Contains(err.Error(), "more than the 5") {
		t.Errorf("opaque cap: got %v", err)
	}
}
