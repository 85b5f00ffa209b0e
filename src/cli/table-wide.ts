/**
 * Tables holding text beyond printable ASCII (accents, CJK, emoji), whose columns need each
 * character's display width: cli-table3 measures them. Loaded only for such a table (see
 * output.ts): building cli-table3's width tables costs more than a whole `romana host list`.
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

/**
 * The rows under the headers, columns aligned by display width, three spaces apart, no
 * borders (lines not yet trimmed). Cells are already escaped text.
 *
 * @example wideTable(['NAME'], [['nœud-1']]) // 'NAME\nnœud-1'
 */
export function wideTable(head: string[], rows: string[][]): string {
  const t = new Table({
    head,
    chars: NO_BORDERS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  for (const row of rows) t.push(row);
  return t.toString();
}
