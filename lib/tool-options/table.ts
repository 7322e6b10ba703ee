/**
 * Option tables: each tool's COMPLETE option list (so abbreviations resolve as the tool resolves
 * them, hidden and deprecated options included) and, per option, whether a pass-through argument
 * may carry it. One file per engine beside this one holds its tools' tables; the registry entry
 * names them (`passThrough`).
 *
 * A table is written one option per line: a verdict, the short letter, the long name with `=`
 * for a required value or `[=]` for an optional one, `~name` for an alias of `--name`, and an
 * optional ` # note` that says why. Over-listing is safe (an unknown name can only make a prefix
 * ambiguous, which is refused); an option missing from a table could make a prefix look unique
 * when the tool has another option of that exact name, so the tables copy the tools' lists whole
 * (test/pass-through.test.ts checks them against the image's `--help`).
 *
 * No cdk8s import: the runner bundles this file. Internal: not exported from the package index.
 */
import { ArgSyntax, ToolOption, ValueMode } from '../getopt';

/**
 * What a pass-through argument may do with an option. Everything but `allow` is refused; the
 * others say why in the error.
 */
export type Verdict = 'allow' | 'runner' | 'undoes' | 'output' | 'connection' | 'files' | 'exits' | 'no';

export const VERDICT_REASONS: Record<Exclude<Verdict, 'allow'>, string> = {
  runner: 'which the runner sets itself',
  undoes: 'which would undo a setting the runner relies on',
  output: 'which would send the data somewhere other than the backup stream or the target database',
  connection: 'which selects the server, database, user or password',
  files: 'which reads option or config files; the runner writes the only one the tool reads',
  exits: 'which makes the tool print something and exit instead of dumping or restoring',
  no: 'which is not among the options allowed through',
};

export interface TableOption extends ToolOption {
  readonly verdict: Verdict;
  /** Why, when the verdict's general reason is not enough. */
  readonly note?: string;
}

export interface ToolOptionTable {
  /** The tool's name, as in messages: 'pg_dump'. */
  readonly tool: string;
  /** Which parser reads its arguments. */
  readonly syntax: ArgSyntax;
  /** Every option the tool knows, aliases included. */
  readonly options: readonly TableOption[];
  /** What the tool takes a positional argument for, in messages: 'the database to dump'. */
  readonly positional: string;
}

const VERDICTS: readonly Verdict[] = ['allow', 'runner', 'undoes', 'output', 'connection', 'files', 'exits', 'no'];

export function table(tool: string, syntax: ArgSyntax, positional: string, text: string): ToolOptionTable {
  const options: TableOption[] = [];
  for (const raw of text.split('\n')) {
    // A note starts with ' # ' (MariaDB has a -# option).
    const hash = raw.search(/\s#\s/);
    const note = hash < 0 ? undefined : raw.slice(hash + 2).trim();
    const tokens = (hash < 0 ? raw : raw.slice(0, hash)).trim().split(/\s+/).filter(t => t !== '');
    if (tokens.length === 0) continue;
    const verdict = tokens[0] as Verdict;
    if (!VERDICTS.includes(verdict)) throw new Error(`${tool} table: unknown verdict in '${raw}'`);
    let long: string | undefined;
    let short: string | undefined;
    let aliasOf: string | undefined;
    let value: ValueMode = 'none';
    for (const token of tokens.slice(1)) {
      const m = /^(--?)([^=[~]+)(=|\[=\])?$/.exec(token);
      if (token.startsWith('~')) {
        aliasOf = token.slice(1);
      } else if (m && m[1] === '--') {
        long = m[2];
        if (m[3]) value = m[3] === '=' ? 'required' : 'optional';
      } else if (m && m[2].length === 1) {
        short = m[2];
        if (m[3]) value = m[3] === '=' ? 'required' : 'optional';
      } else {
        throw new Error(`${tool} table: cannot read '${token}' in '${raw}'`);
      }
    }
    if (long === undefined && short === undefined) throw new Error(`${tool} table: no option in '${raw}'`);
    if (options.some(o => (long !== undefined && o.long === long) || (short !== undefined && o.short === short))) {
      throw new Error(`${tool} table: '${raw}' repeats an option`);
    }
    options.push({ verdict, long, short, value, aliasOf, note: note || undefined });
  }
  for (const o of options) {
    const target = o.aliasOf === undefined ? undefined : options.find(t => t.long === o.aliasOf);
    if (o.aliasOf !== undefined && (!target || target.verdict !== o.verdict || target.value !== o.value)) {
      throw new Error(`${tool} table: --${o.long} must alias an option with the same verdict and value`);
    }
  }
  return { tool, syntax, options, positional };
}

/** The options of `table` a pass-through argument may carry. */
export function allowedOptions(t: ToolOptionTable): TableOption[] {
  return t.options.filter(o => o.verdict === 'allow' && o.aliasOf === undefined);
}
