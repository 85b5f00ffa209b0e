/**
 * What the CLI prints: the server's JSON (indented, keys in the server's order) or plain
 * aligned columns in the style of kubectl. Columns of printable ASCII are laid out here; a
 * table with any other character is laid out by cli-table3 (table-wide.ts, loaded on demand),
 * which knows each character's display width. Both give the same text for ASCII.
 */

/** A table cell: strings as they are, numbers in decimal, nothing as empty. */
export type Cell = string | number | null | undefined;

type WideTable = (head: string[], rows: string[][]) => string;
let wide: WideTable | undefined;

/**
 * Thrown by `table` for cells beyond printable ASCII while cli-table3 is not loaded yet: call
 * `loadWideTables()` and render again (the CLI's `ctx.show` does).
 */
export class WideTextNeeded extends Error {
  override readonly name = 'WideTextNeeded';
}

/** Loads the renderer of tables holding text beyond printable ASCII. */
export async function loadWideTables(): Promise<void> {
  wide ??= (await import('./table-wide.ts')).wideTable;
}

/**
 * Renders rows under upper-case headers, columns aligned, no borders, no trailing spaces.
 *
 * @throws WideTextNeeded when a cell is beyond printable ASCII before `loadWideTables()`.
 * @example table(['NAME', 'IP'], [['node-1', '192.168.0.11']])
 * // 'NAME     IP\nnode-1   192.168.0.11\n'
 */
export function table(head: string[], rows: Cell[][]): string {
  const cells = rows.map((row) => row.map((c) => (c === null || c === undefined ? '' : shown(c))));
  if (!isAscii(head) || !cells.every(isAscii)) {
    if (wide === undefined) throw new WideTextNeeded('a table cell is beyond printable ASCII');
    return trimLines(wide(head, cells)) + '\n';
  }
  return asciiTable(head, cells);
}

/** Printable ASCII only (what `shown` leaves of control characters is ASCII too). */
function isAscii(row: string[]): boolean {
  return row.every((c) => /^[\x20-\x7e]*$/.test(c));
}

/**
 * Columns as wide as their widest cell (at least one character, as cli-table3 makes them),
 * three spaces apart, each line trimmed at its end.
 */
function asciiTable(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const columns = Math.max(...all.map((r) => r.length));
  const widths: number[] = [];
  for (let i = 0; i < columns; i++)
    widths.push(Math.max(1, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    widths
      .map((w, i) => (r[i] ?? '').padEnd(w))
      .join('   ')
      .trimEnd();
  return all.map(line).join('\n') + '\n';
}

/**
 * Renders `label: value` lines, values aligned.
 *
 * @example fields([['Name', 'node-1'], ['IP', '192.168.0.11']]) // 'Name:   node-1\nIP:     192.168.0.11\n'
 */
export function fields(pairs: Array<[string, Cell]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs
    .map(([k, v]) => `${`${k}:`.padEnd(width)}   ${v === null || v === undefined ? '' : shown(v)}`)
    .map((l) => l.trimEnd() + '\n')
    .join('');
}

/** The server's JSON, indented two spaces, keys in the order the server sent them. */
export function json(body: unknown): string {
  return JSON.stringify(body, null, 2) + '\n';
}

/** `k=v,k2=v2` (keys in their order), or empty for no tags. */
export function tagsText(tags: Record<string, string> | null | undefined): string {
  return Object.entries(tags ?? {})
    .map(([k, v]) => `${shown(k)}=${shown(v)}`)
    .join(',');
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A cell as text, control characters (C0, DEL, C1) escaped: a value from romanad (a name
 * stored before the name rule, say) can neither break a row nor move the cursor.
 *
 * @example shown('a\nb') // 'a\\nb'
 */
function shown(c: string | number): string {
  return String(c).replace(
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    /[\u0000-\u001f\u007f-\u009f]/g,
    (ch) => ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function trimLines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
}
