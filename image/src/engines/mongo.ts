/**
 * MongoDB with `mongodump --archive` to stdout. The connection string holds the password, so it
 * never goes into argv (visible in `ps` and /proc): mongodump reads it from a YAML config file in
 * a private directory, removed when the dump ends, whatever the outcome.
 */
import { MongoSettings } from '../config';
import { writePrivateFile } from '../private-file';
import { capture, childEnv, firstLine } from '../proc';
import { DumpCommand, Engine, Preflight, RestoreCommand, RestorePreflight } from './engine';

export class MongoEngine implements Engine {
  public readonly name = 'mongo' as const;
  public readonly format = 'mongodump-archive';
  public readonly extension = 'archive';
  public readonly database: string | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly settings: MongoSettings, env: NodeJS.ProcessEnv) {
    this.database = settings.database;
    this.env = childEnv(env);
  }

  async preflight(): Promise<Preflight> {
    const tool = await capture('mongodump', ['--version'], this.env);
    const version = /version:?\s*(\S+)/i.exec(tool.stdout)?.[1];
    if (tool.code !== 0 || !version) {
      throw new Error(`mongodump --version failed: ${firstLine(tool.stderr || tool.stdout) || `exit code ${tool.code}`}`);
    }
    // The server's version is not known without connecting through a driver; mongodump reports
    // connection errors itself, before it writes anything.
    return { tool: { name: 'mongodump', version }, server: { version: null } };
  }

  async restorePreflight(): Promise<RestorePreflight> {
    const tool = await capture('mongorestore', ['--version'], this.env);
    const version = /version:?\s*(\S+)/i.exec(tool.stdout)?.[1];
    if (tool.code !== 0 || !version) {
      throw new Error(`mongorestore --version failed: ${firstLine(tool.stderr || tool.stdout) || `exit code ${tool.code}`}`);
    }
    // Without a driver the target's contents are unknown. mongorestore never drops or replaces
    // existing documents unless told to (--drop), so an existing collection is not overwritten.
    return { tool: { name: 'mongorestore', version }, server: { version: null } };
  }

  async restoreCommand(format: string, extraArgs: readonly string[]): Promise<RestoreCommand> {
    if (format !== this.format) throw new Error(`cannot restore a '${format}' backup with mongorestore (expected ${this.format})`);
    const config = await writePrivateFile('mongorestore', 'mongorestore.yaml', `uri: ${JSON.stringify(this.settings.uri)}\n`);
    const args = ['--archive', `--config=${config.path}`];
    if (this.settings.database) args.push(`--nsInclude=${this.settings.database}.*`);
    return { steps: [{ kind: 'tool', command: 'mongorestore', args: [...args, ...extraArgs], env: this.env }], cleanup: config.remove };
  }

  async dumpCommand(extraArgs: readonly string[]): Promise<DumpCommand> {
    // A JSON string is a valid YAML double-quoted scalar, whatever the URI contains.
    const config = await writePrivateFile('mongodump', 'mongodump.yaml', `uri: ${JSON.stringify(this.settings.uri)}\n`);
    const args = ['--archive', `--config=${config.path}`];
    if (this.settings.database) args.push(`--db=${this.settings.database}`);
    return { command: 'mongodump', args: [...args, ...extraArgs], env: this.env, cleanup: config.remove };
  }
}
