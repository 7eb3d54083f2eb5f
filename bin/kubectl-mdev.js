#!/usr/bin/env node
// `kubectl mdev explain <ns>/<vmi>` and `kubectl mdev plan-drain <node>`: kubectl runs an executable
// named kubectl-<name> found on PATH as `kubectl <name>` (krew's naming), and package.json's `bin`
// puts this one there on install. A checkout runs the TypeScript sources (Node >= 22.18 strips
// types natively); an installed copy without them runs the compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/kubectl-plugin.ts', import.meta.url);
const compiled = new URL('../dist/cli/kubectl-plugin.js', import.meta.url);
await import(existsSync(fileURLToPath(source)) ? source.href : compiled.href);
