// Command mdev-nvml-helper is the `nvml` compatibility backend of mdev-operator's agent: the exec
// contract (docs/exec-backend.md) over NVIDIA's vGPU migration API. It loads libnvidia-ml.so.1 at
// run time (go-nvml's dlopen), so it builds and starts on machines without an NVIDIA driver and
// answers there with the reason the library is missing (docs/nvml-backend.md).
package main

import (
	"os"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/helper"
)

func main() {
	os.Exit(helper.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, library(), deadline()))
}

// library is NVML loaded from MDEV_NVML_LIBRARY when set (e.g. a driver root the GPU Operator
// mounts), else by its soname libnvidia-ml.so.1 from the loader's search path.
func library() nvml.Interface {
	if path := os.Getenv("MDEV_NVML_LIBRARY"); path != "" {
		return nvml.New(nvml.WithLibraryPath(path))
	}
	return nvml.New()
}

// deadline is helper.DefaultDeadline unless MDEV_NVML_DEADLINE (a Go duration) sets another.
func deadline() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MDEV_NVML_DEADLINE")); err == nil && d > 0 {
		return d
	}
	return helper.DefaultDeadline
}
