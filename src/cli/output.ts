/**
 * What the CLI prints: the server's JSON (indented, keys in the server's order) or plain
 * aligned columns in the style of kubectl (cli-table3 with every border character empty).
 */
import Table from 'cli-table3';

const NO_BORDERS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '   ',
};

/** A table cell: strings as they are, numbers in decimal, nothing as empty. */
export type Cell = string | number | null | undefined;

/**
 * Renders rows under upper-case headers, columns aligned, no borders, no trailing spaces.
 *
 * @example table(['NAME', 'IP'], [['node-1', '192.168.0.11']])
 * // 'NAME     IP\nnode-1   192.168.0.11\n'
 */
export function table(head: string[], rows: Cell[][]): string {
  const t = new Table({
    head,
    chars: NO_BORDERS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const row of rows) t.push(row.map((c) => (c === null || c === undefined ? '' : shown(c))));
  return trimLines(t.toString()) + '\n';
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
