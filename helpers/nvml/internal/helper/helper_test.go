package helper_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/fixture"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/helper"
)

const (
	gpuAddr  = "0000:41:00.0"
	running  = "6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11"
	freeMdev = "0b3c7d1e-2a4f-4e6b-8c9d-0e1f2a3b4c5d"
	h100     = "H100-PCIE-80GB"
	typeID   = "nvidia-1012"
)

// host is a one-GPU host for the stand-in driver (go-nvml's mock, internal/fixture).
func host(board, driver string, lo, hi uint32, instances ...fixture.Instance) fixture.Fixture {
	return fixture.Fixture{GPUs: []fixture.GPU{{Address: gpuAddr, Board: board, HostDriver: driver, VgpuRange: [2]uint32{lo, hi}, Instances: instances}}}
}

func vm(uuid, guest string, vgpu uint32) fixture.Instance {
	return fixture.Instance{MdevUUID: uuid, Type: typeID, GuestDriver: guest, GuestVgpuVersion: vgpu}
}

func mdevSubject(id string) string {
	b, _ := json.Marshal(map[string]any{
		"subject": "device", "kind": "mdev", "id": id,
		"parent": map[string]string{"address": gpuAddr, "vendorId": "10de"},
		"type":   map[string]string{"id": typeID, "name": "GRID H100-4C"},
		"future": "fields the helper does not know are ignored",
	})
	return string(b)
}

type result struct {
	code           int
	stdout, stderr string
	calls          []string
}

func invoke(t *testing.T, d *fixture.Driver, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := helper.Main(args, strings.NewReader(stdin), &out, &errOut, d, 2*time.Second)
	return result{code: code, stdout: out.String(), stderr: errOut.String(), calls: d.Calls.Names()}
}

// readOn reads the subject on a host and returns the version line.
func readOn(t *testing.T, f fixture.Fixture, subject string) string {
	t.Helper()
	r := invoke(t, fixture.New(f), "", "read", subject)
	if r.code != 0 {
		t.Fatalf("read exited %d: %s%s", r.code, r.stdout, r.stderr)
	}
	return strings.SplitN(r.stdout, "\n", 2)[0]
}

func TestReadOfARunningVgpuIsItsInstanceMetadata(t *testing.T) {
	d := fixture.New(host(h100, "550.54.15", 0x10, 0x13, vm(running, "550.54.15", 0x12)))
	r := invoke(t, d, "", "read", mdevSubject(running))
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || !strings.HasPrefix(lines[0], "nvml-vgpu.1.") || lines[1] != "kind=instance" {
		t.Fatalf("exit %d, stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	want := []string{"nvmlInit", "nvmlDeviceGetHandleByPciBusId", "nvmlDeviceGetActiveVgpus", "nvmlVgpuInstanceGetMdevUUID", "nvmlVgpuInstanceGetMetadata", "nvmlShutdown"}
	if strings.Join(r.calls, " ") != strings.Join(want, " ") {
		t.Errorf("NVML calls %v, want %v", r.calls, want)
	}
	if len(lines[0]) > helper.MaxVersionBytes || strings.ContainsAny(lines[0], "=+/ ") {
		t.Errorf("version is not unpadded base64url within the limit: %q", lines[0])
	}
}

func TestReadOfAFreeDeviceOrTypeSlotIsTheGpuClassKey(t *testing.T) {
	f := host(h100, "550.54.15", 0x10, 0x13, vm(running, "550.54.15", 0x12))
	free := readOn(t, f, mdevSubject(freeMdev))
	if !strings.HasPrefix(free, "nvml-pgpu.1.") || !strings.HasSuffix(free, "."+typeID) {
		t.Fatalf("free device read %q", free)
	}
	slot := `{"subject":"type","parent":{"address":"` + gpuAddr + `"},"type":{"id":"` + typeID + `"},"availableInstances":3}`
	if got := readOn(t, f, slot); got != free {
		t.Errorf("a type slot's class key %q differs from a free device's %q on the same GPU", got, free)
	}
	vf := `{"subject":"device","kind":"vfio-pci","id":"0000:41:00.4","parent":{"address":"` + gpuAddr + `"},"type":{"id":"` + typeID + `"}}`
	if got := readOn(t, f, vf); got != free {
		t.Errorf("a vendor-VFIO VF is read as the class key %q, got %q", free, got)
	}
	other := readOn(t, host(h100, "550.90.07", 0x10, 0x13), mdevSubject(freeMdev))
	if other == free {
		t.Error("GPUs with different host drivers share a class key")
	}
	r := invoke(t, fixture.New(f), "", "read", mdevSubject(freeMdev))
	if !strings.HasSuffix(r.stdout, "\nkind=class\n") {
		t.Errorf("kind line missing: %q", r.stdout)
	}
}

// source is the version a VM on a 550.54.15 host with guest vGPU version 0x12 publishes.
func source(t *testing.T) string {
	return readOn(t, host(h100, "550.54.15", 0x10, 0x13, vm(running, "550.54.15", 0x12)), mdevSubject(running))
}

func TestTestAcceptsIffNvmlAllowsLive(t *testing.T) {
	src := source(t)
	cases := []struct {
		name   string
		target fixture.Fixture
		code   int
		want   string
	}{
		{"same branch, newer", host(h100, "550.90.07", 0x10, 0x13), 0, "NVML allows live migration to mdev " + freeMdev + " on " + gpuAddr + " (compatibility LIVE, SLEEP, HIBERNATE, COLD)"},
		{"other branch", host(h100, "535.161.08", 0x10, 0x13), 1, "EINVAL: HOST_DRIVER: host driver branch differs (source host 550.54.15, this host 535.161.08)"},
		{"older in branch: COLD only", host(h100, "550.40.01", 0x10, 0x13), 1, "EINVAL: HOST_DRIVER: this host's vGPU Manager 550.40.01 does not accept vGPUs from 550.54.15"},
		{"vGPU version out of range", host(h100, "550.54.15", 0x10, 0x11), 1, "EINVAL: GUEST_DRIVER: the VM's guest driver 550.54.15 negotiated vGPU version 0x12, outside the range 0x10-0x11"},
		{"other board", host("H100-NVL-94GB", "550.54.15", 0x10, 0x13), 1, "EINVAL: GPU: the GPU at " + gpuAddr + " is not the GPU model the vGPU runs on"},
	}
	for _, c := range cases {
		r := invoke(t, fixture.New(c.target), src, "test", mdevSubject(freeMdev))
		if r.code != c.code || !strings.HasPrefix(r.stdout, c.want) {
			t.Errorf("%s: exit %d %q%s, want %d %q", c.name, r.code, r.stdout, r.stderr, c.code, c.want)
		}
		if !contains(r.calls, "nvmlGetVgpuCompatibility") {
			t.Errorf("%s: the verdict did not come from nvmlGetVgpuCompatibility: %v", c.name, r.calls)
		}
	}
	cold := invoke(t, fixture.New(host(h100, "550.40.01", 0x10, 0x13)), src, "test", mdevSubject(freeMdev))
	if !strings.Contains(cold.stdout, "(compatibility COLD only, live migration needs LIVE)") {
		t.Errorf("a COLD-only answer must say so: %q", cold.stdout)
	}
}

func TestGarbageSourcesAreRefusedBeforeAnyNvmlCall(t *testing.T) {
	src := source(t)
	payload := strings.TrimPrefix(src, "nvml-vgpu.1.")
	class := readOn(t, host(h100, "550.54.15", 0x10, 0x13), mdevSubject(freeMdev))
	cases := map[string]struct{ in, want string }{
		"garbage":        {"garbage", `does not start with "nvml-vgpu."`},
		"sysfs string":   {"nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12", "does not start with"},
		"class key":      {class, "it is a free device's class key"},
		"layout version": {"nvml-vgpu.2." + payload, `layout version "2" is not 1`},
		"no version":     {"nvml-vgpu." + payload, "layout version"},
		"padding":        {src + "==", "not unpadded base64url"},
		"bad alphabet":   {"nvml-vgpu.1." + strings.Replace(payload, "A", "+", 1), "not unpadded base64url"},
		"truncated":      {src[:len(src)-8], "nvmlVgpuMetadata_t: opaqueDataSize says"},
		"too short":      {"nvml-vgpu.1.AQAAAA", "shorter than the 208-byte fixed part"},
		"too long":       {src + strings.Repeat("A", 4095), "more than 4095"},
	}
	for name, c := range cases {
		d := fixture.New(host(h100, "550.90.07", 0x10, 0x13))
		r := invoke(t, d, c.in, "test", mdevSubject(freeMdev))
		if r.code != 1 || !strings.HasPrefix(r.stdout, "EINVAL: not an NVML vGPU metadata string: ") || !strings.Contains(r.stdout, c.want) {
			t.Errorf("%s: exit %d %q, want EINVAL naming %q", name, r.code, r.stdout, c.want)
		}
		if len(r.calls) != 0 {
			t.Errorf("%s: NVML was called: %v", name, r.calls)
		}
	}
}

func TestNoDriverOldDriverAndNoVgpuManagerAreClearReasons(t *testing.T) {
	no := false
	cases := []struct {
		name string
		f    fixture.Fixture
		want string
	}{
		{"no library", fixture.Fixture{Driver: fixture.HostDriver{State: "absent"}}, "libnvidia-ml.so.1 not found: run the agent with the NVIDIA container toolkit"},
		{"no kernel driver", fixture.Fixture{Driver: fixture.HostDriver{State: "not-loaded"}}, "the NVIDIA kernel driver is not loaded on this host"},
		{"no device access", fixture.Fixture{Driver: fixture.HostDriver{State: "no-permission"}}, "no permission to open the NVIDIA device nodes"},
		{"old driver", withDriver(host(h100, "418.226.00", 0x10, 0x13), fixture.HostDriver{MissingSymbols: []string{"nvmlVgpuInstanceGetMdevUUID"}}), "the host's NVIDIA driver 418.226.00 is too old for vGPU migration: libnvidia-ml.so.1 has no nvmlVgpuInstanceGetMdevUUID"},
		{"no vGPU manager", fixture.Fixture{GPUs: []fixture.GPU{{Address: gpuAddr, Board: h100, HostDriver: "550.54.15", VgpuRange: [2]uint32{1, 2}, VgpuManager: &no}}}, "the GPU at 0000:41:00.0 does not run the NVIDIA vGPU Manager"},
		{"no such GPU", host(h100, "550.54.15", 0x10, 0x13), "NVML knows no GPU at 0000:42:00.0"},
		{"GPU cannot migrate", fixture.Fixture{GPUs: []fixture.GPU{{Address: gpuAddr, Board: h100, HostDriver: "550.54.15", VgpuRange: [2]uint32{1, 2}, Migration: &no}}}, "does not support vGPU migration (pgpuVirtualizationCaps: migration NO)"},
	}
	src := source(t)
	for _, c := range cases {
		subject := mdevSubject(freeMdev)
		if c.name == "no such GPU" {
			subject = strings.Replace(subject, gpuAddr, "0000:42:00.0", 1)
		}
		read := invoke(t, fixture.New(c.f), "", "read", subject)
		if read.code != 1 || !strings.Contains(read.stdout, c.want) {
			t.Errorf("%s: read exited %d with %q%s, want 1 %q", c.name, read.code, read.stdout, read.stderr, c.want)
		}
		test := invoke(t, fixture.New(c.f), src, "test", subject)
		if test.code != 1 || !strings.Contains(test.stdout, c.want) || !regexp.MustCompile(`^E[A-Z]+: `).MatchString(test.stdout) {
			t.Errorf("%s: test exited %d with %q%s, want a rejection naming %q", c.name, test.code, test.stdout, test.stderr, c.want)
		}
	}
}

func TestAVgpuThatCannotMigrateIsNotMigratable(t *testing.T) {
	no := false
	inst := vm(running, "550.54.15", 0x12)
	inst.Migration = &no
	r := invoke(t, fixture.New(host(h100, "550.54.15", 0x10, 0x13, inst)), "", "read", mdevSubject(running))
	if r.code != 1 || !strings.Contains(r.stdout, "does not support migration (vgpuVirtualizationCaps: migration NO)") {
		t.Errorf("exit %d %q", r.code, r.stdout)
	}
}

func TestAHungNvmlCallEndsAtTheDeadlineNamingTheCall(t *testing.T) {
	for _, call := range []string{"nvmlInit", "nvmlGetVgpuCompatibility"} {
		d := fixture.New(withDriver(host(h100, "550.90.07", 0x10, 0x13), fixture.HostDriver{Hang: call}))
		var out, errOut bytes.Buffer
		code := helper.Main([]string{"test", mdevSubject(freeMdev)}, strings.NewReader(source(t)), &out, &errOut, d, 50*time.Millisecond)
		close(d.Release)
		if code != 2 || !strings.HasPrefix(errOut.String(), "ETIMEDOUT: "+call+" did not return within 50ms") {
			t.Errorf("%s: exit %d stdout %q stderr %q", call, code, out.String(), errOut.String())
		}
	}
}

func TestTheRealLibraryLoaderAnswersLibraryNotFound(t *testing.T) {
	// go-nvml's own loader (dlopen), pointed at a path that cannot exist on any machine.
	t.Setenv("MDEV_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")
	lib := nvml.New(nvml.WithLibraryPath("/nonexistent/libnvidia-ml.so.1"))
	var out, errOut bytes.Buffer
	code := helper.Main([]string{"read", mdevSubject(running)}, strings.NewReader(""), &out, &errOut, lib, 2*time.Second)
	if code != 1 || !strings.HasPrefix(out.String(), "/nonexistent/libnvidia-ml.so.1 not found: run the agent with the NVIDIA container toolkit") {
		t.Errorf("exit %d %q %q", code, out.String(), errOut.String())
	}
}

func TestUsageAndSubjectErrorsAreErrorsNotVerdicts(t *testing.T) {
	d := fixture.New(host(h100, "550.54.15", 0x10, 0x13))
	cases := map[string][]string{
		"no mode":        {},
		"unknown mode":   {"probe", mdevSubject(running)},
		"not JSON":       {"read", "{"},
		"bad uuid":       {"read", strings.Replace(mdevSubject(running), running, "../../etc", 1)},
		"non-PCI parent": {"read", strings.Replace(mdevSubject(running), gpuAddr, "mtty", 1)},
		"bad type":       {"read", strings.Replace(mdevSubject(running), typeID, "../x", 1)},
	}
	for name, args := range cases {
		r := invoke(t, d, "", args...)
		if r.code != 2 || r.stderr == "" || r.stdout != "" {
			t.Errorf("%s: exit %d stdout %q stderr %q", name, r.code, r.stdout, r.stderr)
		}
	}
	if calls := d.Calls.Names(); len(calls) != 0 {
		t.Errorf("NVML was called for invalid requests: %v", calls)
	}
}

func withDriver(f fixture.Fixture, d fixture.HostDriver) fixture.Fixture {
	f.Driver = d
	return f
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
