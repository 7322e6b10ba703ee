import { Config } from '../config';
import { Engine } from './engine';
import { MongoEngine } from './mongo';
import { PostgresEngine } from './postgres';

export function createEngine(config: Config, env: NodeJS.ProcessEnv): Engine {
  switch (config.engine) {
    case 'postgres': return new PostgresEngine(config.postgres!, env);
    case 'mongo': return new MongoEngine(config.mongo!, env);
  }
}
