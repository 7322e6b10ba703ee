/**
 * Command-line parsers that read an argument list the way a dump or restore tool reads it, so
 * that a pass-through argument is judged by the option the tool would see, not by its spelling:
 *
 * - `getopt_long` (glibc; pg_dump, pg_restore): any unique prefix of a long option, `--opt=value`
 *   and `--opt value`, short clusters (`-vf x`), values attached to short options (`-vr/tmp/x`),
 *   optional values only attached, `--` ends the options, other words are positional.
 * - `my_getopt` (MariaDB's mysys/my_getopt.c; mariadb-dump, mariadb): unique prefixes, `-` and
 *   `_` alike, the `skip-`, `disable-`, `enable-`, `maximum-` and `loose-` prefixes (stacked,
 *   as the tool strips them), short clusters like getopt.
 * - `go-flags` (jessevdk/go-flags; the MongoDB Database Tools): exact long names only, a
 *   separate value that looks like an option is refused; short options are resolved only to be
 *   named in errors (callers accept long names alone).
 * - `redis-cli`: its own parser, exact matches only; the first word that is not an option is the
 *   command.
 *
 * No cdk8s import: the runner bundles this file. Internal: not exported from the package index.
 */

/** How an option takes a value. */
export type ValueMode = 'none' | 'required' | 'optional';

export type ArgSyntax = 'getopt_long' | 'my_getopt' | 'go-flags' | 'redis-cli';

export interface ToolOption {
  /** The long name without dashes (`dbname`); absent for an option with only a short letter. */
  readonly long?: string;
  /** The short letter (`d`), or for redis-cli the whole short option without its dash. */
  readonly short?: string;
  readonly value: ValueMode;
  /** For an alias (`--blobs`): the long name of the option it is. */
  readonly aliasOf?: string;
}

/** MariaDB's special option prefixes, in the order my_getopt tries them. */
export const MY_GETOPT_PREFIXES = ['skip', 'disable', 'enable', 'maximum', 'loose'] as const;
export type MyGetoptPrefix = typeof MY_GETOPT_PREFIXES[number];

export type ParsedArg =
  /** An option the tool knows: `option` is the canonical one (an alias resolved). */
  | {
    readonly kind: 'option';
    /** The argument that names the option, as given (`-vf`, `--dbn=prod`). */
    readonly text: string;
    readonly option: ToolOption;
    /** Given as its short letter. */
    readonly short: boolean;
    /** The value, attached or from the next argument. */
    readonly value?: string;
    /** The value came from the next argument. */
    readonly separateValue?: boolean;
    /** my_getopt prefixes, in the order given. */
    readonly prefixes: readonly MyGetoptPrefix[];
  }
  /** A word the tool takes as a positional argument (a database, a file, a command). */
  | { readonly kind: 'positional'; readonly text: string }
  /** `--`: every argument after it is positional. */
  | { readonly kind: 'end-of-options'; readonly text: string }
  /** The tool would refuse it: `problem` says why. */
  | { readonly kind: 'invalid'; readonly text: string; readonly problem: string };

/** `--name` or `-x` for messages: the canonical long name when there is one. */
export function optionLabel(option: ToolOption): string {
  if (option.long === undefined) return `-${option.short}`;
  return option.short === undefined ? `--${option.long}` : `--${option.long} (-${option.short})`;
}

/** Parses `argv` as a tool with `syntax` and `options` (its complete list) would. */
export function parseToolArgs(syntax: ArgSyntax, options: readonly ToolOption[], argv: readonly string[], tool = 'the tool'): ParsedArg[] {
  switch (syntax) {
    case 'getopt_long': return parseGetopt(options, argv, 'getopt_long', tool);
    case 'my_getopt': return parseGetopt(options, argv, 'my_getopt', tool);
    case 'go-flags': return parseGoFlags(options, argv, tool);
    case 'redis-cli': return parseRedisCli(options, argv, tool);
  }
}

function canonical(options: readonly ToolOption[], option: ToolOption): ToolOption {
  if (option.aliasOf === undefined) return option;
  const target = options.find(o => o.long === option.aliasOf && o.aliasOf === undefined);
  if (!target) throw new Error(`option table: --${option.long} is an alias of unknown --${option.aliasOf}`);
  return target;
}

/** my_getopt compares names with '-' and '_' alike. */
const myName = (s: string) => s.replace(/_/g, '-');

type Lookup = { found: ToolOption } | { ambiguous: ToolOption[] } | { none: true };

/**
 * A long option by exact name or unique prefix. glibc treats several prefix matches as one when
 * they are the same option (aliases with the same value mode); my_getopt counts distinct names.
 */
function lookupLong(options: readonly ToolOption[], name: string, style: 'getopt_long' | 'my_getopt'): Lookup {
  const norm = style === 'my_getopt' ? myName : (s: string) => s;
  const want = norm(name);
  const named = options.filter(o => o.long !== undefined);
  const exact = named.find(o => norm(o.long!) === want);
  if (exact) return { found: exact };
  const matches = named.filter(o => norm(o.long!).startsWith(want));
  if (matches.length === 0) return { none: true };
  if (style === 'getopt_long') {
    const first = canonical(options, matches[0]);
    const same = matches.every(m => canonical(options, m) === first && m.value === matches[0].value);
    return same ? { found: matches[0] } : { ambiguous: matches };
  }
  return matches.length === 1 ? { found: matches[0] } : { ambiguous: matches };
}

const candidates = (list: ToolOption[]) => list.map(o => `--${o.long}`).sort().join(', ');

function parseGetopt(options: readonly ToolOption[], argv: readonly string[], style: 'getopt_long' | 'my_getopt', tool: string): ParsedArg[] {
  const out: ParsedArg[] = [];
  let i = 0;
  const next = () => (i + 1 < argv.length ? argv[++i] : undefined);
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push({ kind: 'end-of-options', text: arg });
      for (const rest of argv.slice(i + 1)) out.push({ kind: 'positional', text: rest });
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const attached = eq < 0 ? undefined : arg.slice(eq + 1);
      let lookup = lookupLong(options, name, style);
      const prefixes: MyGetoptPrefix[] = [];
      if (style === 'my_getopt' && 'none' in lookup) {
        // my_getopt strips one special prefix at a time and looks the rest up again.
        for (let p = 0; p < MY_GETOPT_PREFIXES.length; p++) {
          const prefix = MY_GETOPT_PREFIXES[p];
          if (name.startsWith(prefix) && (name[prefix.length] === '-' || name[prefix.length] === '_')) {
            name = name.slice(prefix.length + 1);
            prefixes.push(prefix);
            lookup = lookupLong(options, name, style);
            if (!('none' in lookup)) break;
            p = -1;
          }
        }
      }
      if ('none' in lookup) {
        out.push({ kind: 'invalid', text: arg, problem: `is not an option ${tool} knows` });
        continue;
      }
      if ('ambiguous' in lookup) {
        out.push({ kind: 'invalid', text: arg, problem: `is ambiguous: ${tool} would refuse it as a prefix of ${candidates(lookup.ambiguous)}` });
        continue;
      }
      const option = canonical(options, lookup.found);
      if (prefixes.some(p => p !== 'loose')) {
        // skip-/disable-/enable- turn a boolean option off or on; maximum- sets a server limit.
        out.push({ kind: 'option', text: arg, option, short: false, value: attached, prefixes });
        continue;
      }
      if (option.value === 'none') {
        if (attached !== undefined && style === 'getopt_long') {
          out.push({ kind: 'invalid', text: arg, problem: `is ${optionLabel(option)}, which takes no value` });
        } else if (attached !== undefined) {
          // my_getopt reads `--flag=0` or `--flag=off` as the flag turned off.
          out.push({ kind: 'option', text: arg, option, short: false, value: attached, prefixes });
        } else {
          out.push({ kind: 'option', text: arg, option, short: false, prefixes });
        }
      } else if (attached !== undefined) {
        out.push({ kind: 'option', text: arg, option, short: false, value: attached, prefixes });
      } else if (option.value === 'required') {
        const value = next();
        if (value === undefined) {
          out.push({ kind: 'invalid', text: arg, problem: `is ${optionLabel(option)}, which needs a value` });
        } else {
          out.push({ kind: 'option', text: arg, option, short: false, value, separateValue: true, prefixes });
        }
      } else {
        out.push({ kind: 'option', text: arg, option, short: false, prefixes });
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const letter = arg[j];
        const found = options.find(o => o.short === letter);
        if (!found) {
          out.push({ kind: 'invalid', text: arg, problem: `has -${letter}, which is not an option ${tool} knows` });
          break;
        }
        const option = canonical(options, found);
        if (found.value === 'none') {
          out.push({ kind: 'option', text: arg, option, short: true, prefixes: [] });
          continue;
        }
        const rest = arg.slice(j + 1);
        if (rest !== '') {
          out.push({ kind: 'option', text: arg, option, short: true, value: rest, prefixes: [] });
        } else if (found.value === 'optional') {
          out.push({ kind: 'option', text: arg, option, short: true, prefixes: [] });
        } else {
          const value = next();
          if (value === undefined) {
            out.push({ kind: 'invalid', text: arg, problem: `is ${optionLabel(option)}, which needs a value` });
          } else {
            out.push({ kind: 'option', text: arg, option, short: true, value, separateValue: true, prefixes: [] });
          }
        }
        break;
      }
      continue;
    }
    out.push({ kind: 'positional', text: arg });
  }
  return out;
}

function parseGoFlags(options: readonly ToolOption[], argv: readonly string[], tool: string): ParsedArg[] {
  const out: ParsedArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push({ kind: 'end-of-options', text: arg });
      for (const rest of argv.slice(i + 1)) out.push({ kind: 'positional', text: rest });
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const attached = eq < 0 ? undefined : arg.slice(eq + 1);
      const found = options.find(o => o.long === name);
      if (!found) {
        out.push({ kind: 'invalid', text: arg, problem: `is not an option ${tool} knows (it takes exact long names only)` });
        continue;
      }
      const option = canonical(options, found);
      if (option.value === 'none' && attached !== undefined) {
        out.push({ kind: 'invalid', text: arg, problem: `is ${optionLabel(option)}, which takes no value` });
      } else if (option.value === 'required' && attached === undefined) {
        const value = argv[i + 1];
        if (value === undefined || value.startsWith('-')) {
          out.push({ kind: 'invalid', text: arg, problem: `is ${optionLabel(option)}, which needs a value (give it as ${arg}=<value>)` });
        } else {
          i++;
          out.push({ kind: 'option', text: arg, option, short: false, value, separateValue: true, prefixes: [] });
        }
      } else {
        out.push({ kind: 'option', text: arg, option, short: false, value: attached, prefixes: [] });
      }
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      const found = options.find(o => o.short === arg[1]);
      if (found) {
        out.push({ kind: 'option', text: arg, option: canonical(options, found), short: true, prefixes: [] });
      } else {
        out.push({ kind: 'invalid', text: arg, problem: `has -${arg[1]}, which is not an option ${tool} knows` });
      }
      // The rest of a short cluster is not judged: short options are refused as a whole.
      continue;
    }
    out.push({ kind: 'positional', text: arg });
  }
  return out;
}

function parseRedisCli(options: readonly ToolOption[], argv: readonly string[], tool: string): ParsedArg[] {
  const out: ParsedArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const found = options.find(o => (o.long !== undefined && `--${o.long}` === arg) || (o.short !== undefined && `-${o.short}` === arg));
    if (found) {
      const option = canonical(options, found);
      if (option.value === 'required') {
        if (i + 1 >= argv.length) {
          out.push({ kind: 'invalid', text: arg, problem: `is ${optionLabel(option)}, which needs a value` });
        } else {
          out.push({ kind: 'option', text: arg, option, short: found.long === undefined, value: argv[++i], separateValue: true, prefixes: [] });
        }
      } else {
        out.push({ kind: 'option', text: arg, option, short: found.long === undefined, prefixes: [] });
      }
      continue;
    }
    if (arg.startsWith('-')) {
      out.push({ kind: 'invalid', text: arg, problem: `is not an option ${tool} knows (it matches whole names only)` });
      continue;
    }
    // redis-cli stops at the first word that is not an option: it and all after it are a command.
    for (const rest of argv.slice(i)) out.push({ kind: 'positional', text: rest });
    break;
  }
  return out;
}
