// Package helper is the NVML helper behind `mdev-operator agent --backend nvml`: it speaks the
// exec backend's contract (docs/exec-backend.md) over NVIDIA's vGPU migration API, through
// go-nvml's nvml.Interface so that tests and the demo can hand it go-nvml's mock.
package helper

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/layout"
)

// DefaultDeadline is below the exec backend's 5 s timeout, so a hung NVML call ends in this
// helper's own reason (which call hung) rather than in a SIGKILL without one.
const DefaultDeadline = 4 * time.Second

// maxStdin bounds the source read from stdin: the agent never sends more than 4095 bytes.
const maxStdin = MaxVersionBytes + 1

const usage = "usage: mdev-nvml-helper read|test <subject-json>   (test reads the source version on stdin)"

// stage names the NVML call in progress, for the timeout's reason.
type stage struct {
	mu   sync.Mutex
	name string
}

func (s *stage) set(name string) {
	s.mu.Lock()
	s.name = name
	s.mu.Unlock()
}

func (s *stage) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.name
}

// answer is what one invocation prints and its exit status.
type answer struct {
	stdout string
	stderr string
	exit   int
}

// Main runs one invocation and returns its exit status: 0 version read / accepted, 1 not
// migratable / rejected (one line of reason), 2 error (reason on stderr).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, lib nvml.Interface, deadline time.Duration) int {
	a := run(args, stdin, lib, deadline)
	io.WriteString(stdout, a.stdout)
	io.WriteString(stderr, a.stderr)
	return a.exit
}

func run(args []string, stdin io.Reader, lib nvml.Interface, deadline time.Duration) answer {
	if len(args) != 2 || (args[0] != "read" && args[0] != "test") {
		return answer{stderr: usage + "\n", exit: 2}
	}
	mode := args[0]
	var source []byte
	var src layout.Vgpu
	if mode == "test" {
		// The source is checked before the subject and before NVML is touched: a string that is
		// not NVML metadata must never reach nvmlGetVgpuCompatibility.
		raw, err := io.ReadAll(io.LimitReader(stdin, maxStdin))
		if err != nil {
			return answer{stderr: fmt.Sprintf("reading the source version from stdin: %v\n", err), exit: 2}
		}
		b, info, err := DecodeInstance(string(raw))
		if err != nil {
			return answer{stdout: "EINVAL: " + err.Error() + "\n", exit: 1}
		}
		source, src = b, info
	}
	subject, err := ParseSubject(args[1])
	if err != nil {
		return answer{stderr: "invalid subject: " + err.Error() + "\n", exit: 2}
	}
	st := &stage{name: "loading libnvidia-ml.so.1"}
	done := make(chan answer, 1)
	go func() { done <- withSession(mode, subject, source, src, lib, st) }()
	select {
	case a := <-done:
		return a
	case <-time.After(deadline):
		return answer{
			stderr: fmt.Sprintf("ETIMEDOUT: %s did not return within %v for %s: the GPU or its driver is hung; check nvidia-smi and the kernel log on this host\n", st.get(), deadline, subject.Describe()),
			exit:   2,
		}
	}
}

func withSession(mode string, subject Subject, source []byte, src layout.Vgpu, lib nvml.Interface, st *stage) answer {
	s, f := openSession(lib, st)
	if f != nil {
		return failure(mode, f)
	}
	defer s.close()
	if mode == "read" {
		r, f := s.read(subject)
		if f != nil {
			return failure(mode, f)
		}
		return answer{stdout: fmt.Sprintf("%s\nkind=%s\n", r.Version, r.Kind)}
	}
	v, f := s.test(subject, source, src)
	if f != nil {
		return failure(mode, f)
	}
	if v.Accepted {
		return answer{stdout: v.Reason + "\n"}
	}
	return answer{stdout: v.Reason + "\n", exit: 1}
}

// failure prints a not-migratable state on stdout (read: the reason; test: `<errno>: reason`),
// and an error on stderr.
func failure(mode string, f *Failure) answer {
	if f.Exit != 1 {
		return answer{stderr: f.Reason + "\n", exit: f.Exit}
	}
	if mode == "test" {
		return answer{stdout: f.Errno + ": " + f.Reason + "\n", exit: 1}
	}
	return answer{stdout: f.Reason + "\n", exit: 1}
}
