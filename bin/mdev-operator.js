#!/usr/bin/env node
// Entry for `npx mdev-operator`: a checkout runs the TypeScript sources directly (Node >= 22.18
// strips types natively), with the development commands (dev/cli.ts: cluster, demo, fleet); an
// installed copy or the image has only dist/ and the product's commands.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const checkout = new URL('../dev/cli.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
await import(existsSync(fileURLToPath(checkout)) ? checkout.href : compiled.href);
