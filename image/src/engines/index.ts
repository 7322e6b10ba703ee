/**
 * The runner's engines by name: each registry entry (lib/registry.ts) has its module here, and
 * nothing else in the runner names an engine.
 */
import { Engine, EngineModule } from './engine';
import { mongoModule } from './mongo';
import { mysqlModule } from './mysql';
import { postgresModule } from './postgres';
import { redisModule } from './redis';
import { EngineName } from '../../../lib/registry';

export const ENGINE_MODULES: { readonly [N in EngineName]: EngineModule<any> } = {
  postgres: postgresModule,
  mongo: mongoModule,
  mysql: mysqlModule,
  redis: redisModule,
};

/** The engine `name`, with its settings read and checked from `env` (a ConfigError naming the variable); starts nothing. */
export function createEngine(name: EngineName, env: NodeJS.ProcessEnv): Engine {
  const module = ENGINE_MODULES[name];
  return module.create(module.readSettings(env), env);
}
