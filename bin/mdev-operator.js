#!/usr/bin/env node
// Entry for `npx mdev-operator`: a checkout runs the TypeScript sources directly (Node >= 22.18
// strips types natively), so a stale dist/ can never shadow them; the image ships only dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
await import(existsSync(fileURLToPath(source)) ? source.href : compiled.href);
