// Command mdev-nvml-helper-mock is mdev-nvml-helper with a STAND-IN NVIDIA driver: go-nvml's mock
// configured from the JSON fixture named by MDEV_NVML_FIXTURE (internal/fixture). The demo, the
// simulated fleet, integration tests and benchmarks run it; the image never contains it.
// With MDEV_NVML_CALL_LOG set, it appends the NVML calls it served to that file, one line per
// invocation, so tests can see which calls a request reached.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/fixture"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/helper"
)

func main() {
	path := os.Getenv("MDEV_NVML_FIXTURE")
	if path == "" {
		fmt.Fprintln(os.Stderr, "mdev-nvml-helper-mock: set MDEV_NVML_FIXTURE to the JSON fixture of the simulated host")
		os.Exit(2)
	}
	f, err := fixture.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdev-nvml-helper-mock:", err)
		os.Exit(2)
	}
	driver := fixture.New(f)
	deadline := helper.DefaultDeadline
	if d, err := time.ParseDuration(os.Getenv("MDEV_NVML_DEADLINE")); err == nil && d > 0 {
		deadline = d
	}
	code := helper.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, driver, deadline)
	if log := os.Getenv("MDEV_NVML_CALL_LOG"); log != "" {
		appendLine(log, strings.Join(driver.Calls.Names(), " "))
	}
	os.Exit(code)
}

func appendLine(path, line string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdev-nvml-helper-mock: call log:", err)
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}
