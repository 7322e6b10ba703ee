import { Config } from '../config';
import { Engine } from './engine';
import { MongoEngine } from './mongo';
import { MysqlEngine } from './mysql';
import { PostgresEngine } from './postgres';
import { RedisEngine } from './redis';

export function createEngine(config: Config, env: NodeJS.ProcessEnv): Engine {
  switch (config.engine) {
    case 'postgres': return new PostgresEngine(config.postgres!, env);
    case 'mongo': return new MongoEngine(config.mongo!, env);
    // Newer engines read and check their own settings (a ConfigError, exit 2, before anything starts).
    case 'mysql': return new MysqlEngine(env);
    case 'redis': return new RedisEngine(env);
  }
}
