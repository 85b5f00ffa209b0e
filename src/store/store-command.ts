/**
 * `romanad store check <dir>` and `romanad store repair <dir>`: the subcommands romanad's
 * `main` hands over to. Exit statuses: 0 sound (check) or repaired / nothing to repair
 * (repair), 1 damaged (check) or the repair failed, 2 bad usage.
 */
import { checkStore, repairStore, type StoreCheckReport } from './embedded-check.ts';

const USAGE = `usage: romanad store check <dir>    say whether romanad can open the embedded store in <dir>
       romanad store repair <dir>   keep every intact record, back up the original files (romanad stopped)
<dir> is the directory of --store embedded:<dir>`;

/**
 * Runs `romanad store …` with the words after `store`; writes to `out`/`err`, returns the exit
 * status.
 *
 * @example process.exitCode = await storeCommand(['check', './romana-data'], print, print);
 */
export async function storeCommand(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const [verb, where, ...rest] = args;
  if (verb === '--help' || verb === '-h') {
    out(USAGE);
    return 0;
  }
  if ((verb !== 'check' && verb !== 'repair') || where === undefined || rest.length > 0) {
    err(`romanad store: expected 'check <dir>' or 'repair <dir>', got '${args.join(' ')}'`);
    err(USAGE);
    return 2;
  }
  const dir = where.startsWith('embedded:') ? where.slice('embedded:'.length) : where;
  try {
    if (verb === 'check') {
      const report = await checkStore(dir);
      describe(report, out);
      out(
        report.sound
          ? 'result: sound'
          : `result: DAMAGED: romanad will not open this store; 'romanad store repair ${report.dir}' keeps every intact record`,
      );
      return report.sound ? 0 : 1;
    }
    const r = await repairStore(dir);
    describe(r.before, out);
    if (!r.repaired) {
      out('result: sound, nothing to repair');
      return 0;
    }
    if (r.restoredFromHistory > 0) {
      out(`restored ${r.restoredFromHistory} keys of the damaged snapshot from the log's history`);
    }
    out(`original files copied to ${r.backup}`);
    out(
      `result: repaired: ${r.keys} keys at revision ${r.revision}; everything listed as damaged or missing above was dropped`,
    );
    return 0;
  } catch (e) {
    err(`romanad store ${verb}: ${(e as Error).message}`);
    return verb === 'check' ? 2 : 1;
  }
}

function describe(r: StoreCheckReport, out: (line: string) => void): void {
  out(`embedded store ${r.dir}`);
  const s = r.snapshot;
  if (!s.present) out(`snapshot ${s.file}: none`);
  else {
    const keys =
      s.expected !== undefined && s.expected !== s.keys
        ? `${s.keys} of ${s.expected}`
        : `${s.keys}`;
    out(`snapshot ${s.file}: revision ${s.revision ?? '?'}, ${keys} keys readable`);
  }
  for (const d of s.damaged) out(`DAMAGED ${s.file} at bytes ${d.offset}..${d.end}: ${d.reason}`);
  const l = r.log;
  if (!l.present) out(`log ${l.file}: none`);
  else {
    const revs = l.records > 0 ? `, revisions ${l.firstRevision}..${l.lastRevision}` : '';
    out(`log ${l.file}: format ${l.version ?? '?'}, ${l.records} intact records${revs}`);
  }
  for (const d of l.damaged) out(`DAMAGED ${l.file} at bytes ${d.offset}..${d.end}: ${d.reason}`);
  if (l.torn !== undefined) {
    out(
      `torn tail of ${l.torn.bytes} bytes at byte ${l.torn.offset} of ${l.file}: a write cut short by a crash, never acknowledged; dropped at the next start`,
    );
  }
  for (const [from, to] of r.missing) {
    const which = from === to ? `revision ${from}` : `revisions ${from}..${to}`;
    out(
      `MISSING ${which}: no intact record holds it; keys it wrote keep their earlier values after a repair`,
    );
  }
}
