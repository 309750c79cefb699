/** Aligned text columns for terminal reports; the last column is never padded. */
export function table(header: string[], rows: string[][], gap = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] + gap)))
      .join('')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
