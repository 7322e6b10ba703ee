/**
 * argv: `backup [-- <dump-tool args>]`, `list`, `restore [latest|<id>] [-- <restore-tool args>]`,
 * `prune`, `verify [latest|<id>]`.
 */
import { ConfigError } from './errors';
import { BACKUP_ID_PATTERN, COMMAND, DUMP_ARGS_SEPARATOR } from '../../lib/contract';

const SEP = DUMP_ARGS_SEPARATOR;
const USAGE = [
  `${COMMAND.BACKUP} [${SEP} <extra dump-tool arguments>]`,
  COMMAND.LIST,
  `${COMMAND.RESTORE} [latest|<backup id>] [${SEP} <extra restore-tool arguments>]`,
  COMMAND.PRUNE,
  `${COMMAND.VERIFY} [latest|<backup id>]`,
].map(u => `runner ${u}`).join(' | ');

export type Command = typeof COMMAND[keyof typeof COMMAND];

export interface Args {
  readonly command: Command;
  /** `latest` or a backup id (restore, verify). */
  readonly ref: string;
  /** Arguments after `--` for the dump or restore tool. */
  readonly dumpArgs: string[];
}

export function parseArgs(argv: readonly string[]): Args {
  const [command, ...rest] = argv;
  if (!(Object.values(COMMAND) as string[]).includes(command)) {
    throw new ConfigError(command === undefined ? `no command given; usage: ${USAGE}` : `unknown command '${command}'; usage: ${USAGE}`);
  }
  const sep = rest.indexOf(SEP);
  const positional = sep < 0 ? rest : rest.slice(0, sep);
  const toolArgs = sep < 0 ? [] : rest.slice(sep + 1);
  const takesRef = command === COMMAND.RESTORE || command === COMMAND.VERIFY;
  const takesToolArgs = command === COMMAND.BACKUP || command === COMMAND.RESTORE;
  if (positional.length > (takesRef ? 1 : 0)) {
    const extra = positional[takesRef ? 1 : 0];
    const tool = command === COMMAND.BACKUP ? 'dump' : 'restore';
    throw new ConfigError(`unexpected argument '${extra}'${takesToolArgs ? `: extra ${tool}-tool arguments go after '${SEP}'` : ''}; usage: ${USAGE}`);
  }
  if (sep >= 0 && !takesToolArgs) throw new ConfigError(`'${command}' takes no tool arguments; usage: ${USAGE}`);
  const ref = positional[0] ?? 'latest';
  if (takesRef && ref !== 'latest' && !BACKUP_ID_PATTERN.test(ref)) {
    throw new ConfigError(`'${ref}' is not a backup id; use 'latest' or an id such as 20240501T020304Z-1a2b3c4d (see '${COMMAND.LIST}')`);
  }
  return { command: command as Command, ref, dumpArgs: toolArgs };
}
