/**
 * The README's "Pass-through options" section, generated from the option tables
 * (lib/tool-options/). test/pass-through.test.ts checks the README holds exactly this text;
 * `npx ts-node --prefer-ts-exts test/pass-through-readme.ts` writes it between the markers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ENGINE_NAMES, ENGINE_REGISTRY } from '../lib/registry';
import { TableOption, ToolOptionTable, Verdict, allowedOptions } from '../lib/tool-options/table';

export const README_MARKERS = {
  start: '<!-- pass-through:start -->',
  end: '<!-- pass-through:end -->',
};

const README = path.join(__dirname, '..', 'README.md');

const VALUE: Record<TableOption['value'], string> = { none: '', required: '=…', optional: '[=…]' };

const SYNTAX: Record<ToolOptionTable['syntax'], string> = {
  'getopt_long': 'getopt_long: any unique prefix of a long option, `--opt=value` or `--opt value`, short clusters such as `-vf x` and attached values such as `-fx`',
  'my_getopt': "MariaDB's my_getopt: unique prefixes, `-` and `_` alike, the `loose-`, `skip-`, `disable-`, `enable-` and `maximum-` prefixes, short clusters",
  'go-flags': 'go-flags: exact long names only (`--opt=value` or `--opt value`); give options by their long names',
  'redis-cli': 'whole option names only',
};

/** How the README groups refused options, by verdict (the errors say it as VERDICT_REASONS does). */
const REFUSED: Partial<Record<Verdict, string>> = {
  runner: 'Set by the runner itself',
  undoes: 'Would undo a setting the runner relies on',
  output: 'Would send the data elsewhere',
  connection: "Connection and database selection, set from the construct's props",
  files: 'Option and config files',
  exits: 'Print something and exit',
};

function optionCell(o: TableOption, table: ToolOptionTable): string {
  const long = o.long === undefined ? undefined : `\`--${o.long}${VALUE[o.value]}\``;
  // go-flags tools' short options are refused: only the long name is shown.
  const short = o.short === undefined || table.syntax === 'go-flags' ? undefined : `\`-${o.short}\``;
  return [long, short].filter(x => x !== undefined).join(' ');
}

function toolSection(usedFor: string[], table: ToolOptionTable): string[] {
  const lines = [`#### ${table.tool} (${usedFor.join(', ')})`, '', `Read as ${SYNTAX[table.syntax]}.`, ''];
  const allowed = allowedOptions(table);
  if (allowed.length === 0) {
    lines.push(`Allowed: none; the runner sets everything ${table.tool} needs.`, '');
  } else {
    lines.push(`Allowed: ${allowed.map(o => optionCell(o, table)).join(', ')}.`, '');
    const noted = allowed.filter(o => o.note !== undefined);
    if (noted.length > 0) lines.push(...noted.map(o => `- ${optionCell(o, table)}: ${o.note}.`), '');
  }
  for (const [verdict, reason] of Object.entries(REFUSED)) {
    const options = table.options.filter(o => o.verdict === verdict && o.aliasOf === undefined);
    if (options.length === 0) continue;
    lines.push(`${reason}: ${options.map(o => `\`${o.long === undefined ? `-${o.short}` : `--${o.long}`}\``).join(', ')}.`, '');
  }
  lines.push(`Every other ${table.tool} option is refused too, and so is any positional argument: ${table.tool} would take it as ${table.positional}.`, '');
  return lines;
}

/** The whole section, markers included. */
export function passThroughReadme(): string {
  const lines = [
    README_MARKERS.start,
    '<!-- Generated from lib/tool-options/ by test/pass-through-readme.ts: edit the tables, then run `npx ts-node --prefer-ts-exts test/pass-through-readme.ts`. -->',
    '### Pass-through options',
    '',
    '`dumpArgs` and `restoreArgs` (and `backup -- …`, `restore -- …` when the image runs alone) are read the way',
    "the tool reads its command line, resolved against the tool's complete option list, and only the options",
    'below pass. An abbreviation, a short cluster or a MariaDB prefix is judged by the option the tool would see',
    '(`--dbn=prod` is `--dbname`, `-vf x` is `--file`, `--loose-result-file` is `--result-file`); an unknown',
    'or ambiguous option, `--` and positional arguments are refused. The constructs refuse at synth time and',
    'the runner again before anything starts (exit 2), with the argument and the option it resolves to.',
    '',
  ];
  const seen = new Map<ToolOptionTable, string[]>();
  for (const engine of ENGINE_NAMES) {
    const d = ENGINE_REGISTRY[engine];
    for (const direction of ['dump', 'restore'] as const) {
      const table = (d.passThrough as { dump: ToolOptionTable; restore?: ToolOptionTable })[direction];
      if (!table) continue;
      const use = `${d.title} ${direction === 'dump' ? '`dumpArgs`' : '`restoreArgs`'}`;
      seen.set(table, [...seen.get(table) ?? [], use]);
    }
  }
  for (const [table, usedFor] of seen) lines.push(...toolSection(usedFor, table));
  lines.push(README_MARKERS.end);
  return lines.join('\n');
}

/** Writes the section into README.md: between the markers, or before "### What it writes" the first time. */
export function writeReadme(): void {
  const readme = fs.readFileSync(README, 'utf8');
  const start = readme.indexOf(README_MARKERS.start);
  const end = readme.indexOf(README_MARKERS.end);
  let updated: string;
  if (start >= 0 && end > start) {
    updated = readme.slice(0, start) + passThroughReadme() + readme.slice(end + README_MARKERS.end.length);
  } else {
    const anchor = readme.indexOf('### What it writes');
    if (anchor < 0) throw new Error('README.md has neither the pass-through markers nor a "### What it writes" heading');
    updated = readme.slice(0, anchor) + passThroughReadme() + '\n\n' + readme.slice(anchor);
  }
  fs.writeFileSync(README, updated);
}

if (require.main === module) writeReadme();
