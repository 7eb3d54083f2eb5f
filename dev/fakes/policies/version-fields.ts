// Parsing for the simulated drivers' `tag;key=value;...` strings. Only the simulated drivers parse
// versions; the agent and controller treat them as opaque, as the proposal requires.

/** `nv1;board=X;host=Y` with tag `nv1` → Map{board→X, host→Y}; undefined when malformed. */
export function parseTagged(value: string, tag: string): Map<string, string> | undefined {
  const [head, ...parts] = value.split(';');
  if (head !== tag) return undefined;
  const fields = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0 || fields.has(part.slice(0, eq))) return undefined;
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return fields;
}

/** `550.54.15` → [550, 54, 15]; undefined when any component is not a number. */
export function parseDotted(value: string | undefined): number[] | undefined {
  if (value === undefined || !/^\d+(\.\d+)*$/.test(value)) return undefined;
  return value.split('.').map(Number);
}

/** Negative, zero or positive like a comparator; missing components count as 0. */
export function compareDotted(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The kernel's sysfs_streq: equal, ignoring one trailing newline on either side. */
export function sysfsStreq(a: string, b: string): boolean {
  return a.replace(/\n$/, '') === b.replace(/\n$/, '');
}
