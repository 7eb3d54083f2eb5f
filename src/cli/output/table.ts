// Plain-text tables for the read-only commands: left-aligned columns padded to the widest cell,
// long cells clipped, so 100+ rows stay readable in a terminal and diffable in CI logs.

export interface TableOptions {
  /** Cells longer than this are clipped with an ellipsis (default 100). */
  maxCellWidth?: number;
  /** Spaces between columns (default 2). */
  gap?: number;
}

function clip(text: string, max: number): string {
  // A separator left dangling before the ellipsis reads as if something important followed.
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1)).replace(/[\s:;,]+$/, '')}…`;
}

/** Renders `rows` under `headers`; trailing spaces are trimmed from every line. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], opts: TableOptions = {}): string {
  const max = opts.maxCellWidth ?? 100;
  const gap = ' '.repeat(opts.gap ?? 2);
  const cells = [headers, ...rows].map((r) => headers.map((_, i) => clip((r[i] ?? '').replace(/\s+/g, ' '), max)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] as string).length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i] as number)).join(gap).trimEnd()).join('\n') + '\n';
}

/** `3 Compatible, 1 Incompatible` from counts, in the given key order, zeros left out. */
export function renderCounts(order: readonly string[], counts: Readonly<Record<string, number>>): string {
  const parts = order.filter((k) => (counts[k] ?? 0) > 0).map((k) => `${counts[k]} ${k}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** Stable, indented JSON with a trailing newline. */
export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
