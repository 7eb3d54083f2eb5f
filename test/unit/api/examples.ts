// Loads docs/examples/*.yaml, the one valid object per kind that unit and integration tests share.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { KindName } from '../../../src/api/v1alpha1/index.ts';

export type Obj = Record<string, unknown>;

export const EXAMPLES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'examples');

export const EXAMPLE_FILES: Record<KindName, string> = {
  MdevDevice: 'mdevdevice.yaml',
  MdevMigration: 'mdevmigration.yaml',
  MdevProbe: 'mdevprobe.yaml',
  MdevNode: 'mdevnode.yaml',
};

/** A fresh deep copy of the example of `kind` each call, so tests can mutate it. */
export function loadExample(kind: KindName): Obj {
  return parse(readFileSync(join(EXAMPLES_DIR, EXAMPLE_FILES[kind]), 'utf8')) as Obj;
}
