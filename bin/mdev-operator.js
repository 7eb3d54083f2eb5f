#!/usr/bin/env node
// Entry for `npx mdev-operator`: the published image runs the compiled dist/, a checkout runs the
// TypeScript sources directly (Node >= 22.18 strips types natively).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
await import(existsSync(fileURLToPath(compiled)) ? compiled.href : source.href);
