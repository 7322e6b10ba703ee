/**
 * MongoDB with `mongodump --archive` to stdout and `mongorestore --archive` from stdin. The
 * connection string holds the password, so it never goes into argv (visible in `ps` and /proc):
 * the tools read it from a YAML config file in a private directory, removed when they end,
 * whatever the outcome.
 */
import { ENGINE_REGISTRY } from '../../../lib/registry';
import { mongoDatabaseName, nonEmpty } from '../../../lib/rules';
import { ConfigError } from '../errors';
import { writePrivateFile } from '../private-file';
import { childEnv } from '../proc';
import { probeFirst } from '../tool';
import {
  BackupCapability, DumpPlan, Engine, EngineModule, RestoreCapability, RestorePlan,
} from './engine';

const DESCRIPTOR = ENGINE_REGISTRY.mongo;
const VAR = DESCRIPTOR.env;
/** `mongodump version: 100.10.0` */
const VERSION = /version:?\s*(\S+)/i;

export interface MongoSettings {
  readonly uri: string;
  /** The database to dump, or to restore into; undefined: every database. */
  readonly database?: string;
}

function readSettings(env: NodeJS.ProcessEnv): MongoSettings {
  // Never quote the value: it holds the password.
  const uri = nonEmpty(VAR.URI, env[VAR.URI], 'the connection string from a Secret, mongodb://user:password@host:27017/?authSource=admin', true);
  if (!/^mongodb(\+srv)?:\/\/\S+$/.test(uri)) {
    throw new ConfigError(`${VAR.URI}: is not a MongoDB connection string (value not shown); it must start with mongodb:// or mongodb+srv:// and contain no white space.`);
  }
  const database = env[VAR.DATABASE] ? mongoDatabaseName(VAR.DATABASE, env[VAR.DATABASE]!) : undefined;
  return { uri, database };
}

/** The config file both tools read: a JSON string is a valid YAML double-quoted scalar, whatever the URI holds. */
const configFile = (tool: string, uri: string) => writePrivateFile(tool, `${tool}.yaml`, `uri: ${JSON.stringify(uri)}\n`);

class MongoEngine implements Engine {
  public readonly descriptor = DESCRIPTOR;
  public readonly name = DESCRIPTOR.name;
  public readonly database: string | undefined;
  public readonly backup: BackupCapability<DumpPlan>;
  public readonly restore: RestoreCapability<RestorePlan>;

  constructor(settings: MongoSettings, env: NodeJS.ProcessEnv) {
    this.database = settings.database;
    const toolEnv = childEnv(env);
    this.backup = {
      async preflight() {
        // The server's version is not known without connecting through a driver; mongodump
        // reports connection errors itself, before it writes anything.
        return { tool: await probeFirst(DESCRIPTOR.tools.dump, VERSION, toolEnv), server: { version: null } };
      },
      async dumpCommand(plan, extraArgs) {
        const config = await configFile(plan.tool.name, settings.uri);
        const args = ['--archive', `--config=${config.path}`];
        if (settings.database) args.push(`--db=${settings.database}`);
        return { command: plan.tool.name, args: [...args, ...extraArgs], env: toolEnv, cleanup: config.remove };
      },
    };
    this.restore = {
      async preflight() {
        // Without a driver the target's contents are unknown. mongorestore never drops or replaces
        // existing documents unless told to (--drop), so an existing collection is not overwritten.
        return { tool: await probeFirst(DESCRIPTOR.tools.restore, VERSION, toolEnv), server: { version: null } };
      },
      async restoreCommand(plan, extraArgs, source) {
        const config = await configFile(plan.tool.name, settings.uri);
        const args = ['--archive', `--config=${config.path}`];
        const target = settings.database;
        if (target && source.database && source.database !== target) {
          // The archive names its collections by the source database: restore them under the target's name.
          args.push(`--nsInclude=${source.database}.*`, `--nsFrom=${source.database}.*`, `--nsTo=${target}.*`);
        } else if (target) {
          args.push(`--nsInclude=${target}.*`);
        }
        return { steps: [{ kind: 'tool', command: plan.tool.name, args: [...args, ...extraArgs], env: toolEnv }], cleanup: config.remove };
      },
    };
  }
}

export const mongoModule: EngineModule<MongoSettings> = {
  descriptor: DESCRIPTOR,
  readSettings,
  create: (settings, env) => new MongoEngine(settings, env),
};
