// Built binaries that ship in the product image besides Node.js and the compiled code: the ONE
// place to add one (e.g. the NVML helper behind `agent --backend nvml`). For each entry,
// `npm run image:build` runs `build` from the repository root with $OUT set to a file path, and
// puts that file in the image at /usr/local/bin/<name> (mode 0755). Give the Containerfile a build
// stage that COPYs the same file to /usr/local/bin/<name> (test/unit/chart/containerfile.test.ts
// checks that; the e2e image test checks the built image's /usr/local/bin).
export interface ExtraBinary {
  /** File name in /usr/local/bin. */
  name: string;
  /** argv run from the repository root; it must write the binary to $OUT. */
  build: string[];
}

export const EXTRA_BINARIES: ExtraBinary[] = [
  // The `nvml` backend's helper (helpers/nvml): built, cached by source hash, copied to $OUT. The
  // mock build made beside it never enters the image.
  { name: 'mdev-nvml-helper', build: ['bash', 'scripts/build-nvml-helper.sh', '--install-helper-to-out'] },
];
