// Command mdev-nvml-bench measures the helper inside one long-lived process over the STAND-IN
// driver (go-nvml's mock, fixture from MDEV_NVML_FIXTURE): what a persistent helper answering a
// line protocol could reach per call, with NVML already initialised. bench/nvml.ts compares it
// with the per-call process the agent runs (docs/adr: the NVML helper runs per call). Never shipped.
//
//	mdev-nvml-bench <iterations> read|test <subject-json>    (test: the source version on stdin)
//
// Prints one JSON object: {"ns":[...per-call nanoseconds...]}.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/fixture"
	"github.com/mdev-operator/mdev-operator/helpers/nvml/internal/helper"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: mdev-nvml-bench <iterations> read|test <subject-json>")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "iterations must be a positive number")
		os.Exit(2)
	}
	f, err := fixture.Load(os.Getenv("MDEV_NVML_FIXTURE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	source, _ := io.ReadAll(os.Stdin)
	driver := fixture.New(f)
	args := os.Args[2:]
	samples := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		var out, errOut bytes.Buffer
		start := time.Now()
		code := helper.Main(args, strings.NewReader(string(source)), &out, &errOut, driver, helper.DefaultDeadline)
		samples = append(samples, time.Since(start).Nanoseconds())
		if code != 0 {
			fmt.Fprintf(os.Stderr, "call %d exited %d: %s%s", i, code, out.String(), errOut.String())
			os.Exit(1)
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string][]int64{"ns": samples})
}
