/**
 * argv: `backup [-- <extra dump-tool args>]`.
 */
import { ConfigError } from './errors';
import { COMMAND, DUMP_ARGS_SEPARATOR } from '../../lib/contract';

const USAGE = `usage: runner ${COMMAND.BACKUP} [${DUMP_ARGS_SEPARATOR} <extra dump-tool arguments>]`;

export function parseArgs(argv: readonly string[]): { command: string; dumpArgs: string[] } {
  const [command, ...rest] = argv;
  if (command !== COMMAND.BACKUP) {
    throw new ConfigError(command === undefined ? `no command given; ${USAGE}` : `unknown command '${command}'; ${USAGE}`);
  }
  if (rest.length > 0 && rest[0] !== DUMP_ARGS_SEPARATOR) {
    throw new ConfigError(`unexpected argument '${rest[0]}': extra dump-tool arguments go after '${DUMP_ARGS_SEPARATOR}'; ${USAGE}`);
  }
  return { command, dumpArgs: rest.slice(1) };
}
