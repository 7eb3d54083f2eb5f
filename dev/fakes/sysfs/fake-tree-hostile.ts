// Broken and hostile entries for tests: what a compromised or buggy host could put in the tree
// the agent reads. Each helper takes a path relative to the tree's sysRoot.
import { mkdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FakeTree } from './fake-tree.ts';

/** A symlink at `rel` pointing outside the tree (default /etc). */
export function addEscapingLink(tree: FakeTree, rel: string, target = '/etc'): string {
  const link = tree.sys(rel);
  mkdirSync(path.dirname(link), { recursive: true });
  rmSync(link, { force: true, recursive: true });
  symlinkSync(target, link);
  return link;
}

/** Two symlinks pointing at each other: `rel` ↔ `rel` + `.loop`. */
export function addLinkLoop(tree: FakeTree, rel: string): string {
  const link = tree.sys(rel);
  mkdirSync(path.dirname(link), { recursive: true });
  rmSync(link, { force: true, recursive: true });
  symlinkSync(`${path.basename(link)}.loop`, link);
  symlinkSync(path.basename(link), `${link}.loop`);
  return link;
}

/** Replaces the attribute at `rel` with a sparse file of `bytes` (cheap to make, costly to slurp). */
export function makeHugeAttr(tree: FakeTree, rel: string, bytes = 4 * 1024 * 1024): string {
  const file = tree.sys(rel);
  writeFileSync(file, 'x');
  truncateSync(file, bytes);
  return file;
}

/**
 * Makes the attribute at `rel` unreadable. Mode 000 does not stop root (tests often run as root),
 * so the file becomes a directory: opening works, reading fails — as with a broken driver.
 */
export function makeUnreadable(tree: FakeTree, rel: string): string {
  const file = tree.sys(rel);
  rmSync(file, { force: true, recursive: true });
  mkdirSync(file, { mode: 0o000 });
  return file;
}
