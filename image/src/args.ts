/**
 * argv: `backup [-- <dump-tool args>]`, `list`, `restore [latest|<id>] [-- <restore-tool args>]`,
 * `prune`, `verify [latest|<id>]`, `check`. `check` takes no backup id: it checks the whole series
 * (its freshness is about the newest backup, its integrity about every one).
 */
import { ConfigError } from './errors';
import { COMMAND, LATEST_BACKUP_ID, TOOL_ARGS_SEPARATOR } from '../../lib/contract';
import { backupRef } from '../../lib/rules';

const SEP = TOOL_ARGS_SEPARATOR;
const USAGE = [
  `${COMMAND.BACKUP} [${SEP} <extra dump-tool arguments>]`,
  COMMAND.LIST,
  `${COMMAND.RESTORE} [${LATEST_BACKUP_ID}|<backup id>] [${SEP} <extra restore-tool arguments>]`,
  COMMAND.PRUNE,
  `${COMMAND.VERIFY} [${LATEST_BACKUP_ID}|<backup id>]`,
  COMMAND.CHECK,
].map(u => `runner ${u}`).join(' | ');

export type Command = typeof COMMAND[keyof typeof COMMAND];

export interface Args {
  readonly command: Command;
  /** `latest` or a backup id (restore, verify). */
  readonly ref: string;
  /** Arguments after `--`, for the dump tool (backup) or the restore tool (restore). */
  readonly toolArgs: readonly string[];
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
  const ref = takesRef ? backupRef(`${command} argument`, positional[0] ?? LATEST_BACKUP_ID) : LATEST_BACKUP_ID;
  return { command: command as Command, ref, toolArgs };
}
