/**
 * Pass-through arguments (`dumpArgs`, `restoreArgs`, `backup -- …`, `restore -- …`) are read as
 * each tool reads them and only allow-listed options pass (issue #9, section 1). The same check
 * runs in the constructs (synth) and in the runner (loadRunConfig, exit 2): both are driven here
 * with every spelling the tools accept of every option that is not allowed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as kplus from 'cdk8s-plus-27';
import { newChart, postgresProps, s3Storage } from './helpers/synth';
import { passThroughReadme, README_MARKERS } from './pass-through-readme';
import { loadRunConfig } from '../image/src/config';
import {
  BackupSchedule, BackupSeries, MongoBackupCronJob, MongoRestoreJob, MysqlBackupCronJob, MysqlRestoreJob,
  PostgresBackupCronJob, PostgresRestoreJob, RedisBackupCronJob,
} from '../lib';
import { ENV } from '../lib/contract';
import { parseToolArgs } from '../lib/getopt';
import { ENGINE_NAMES, ENGINE_REGISTRY, EngineName } from '../lib/registry';
import { RuleError, ToolDirection, passThroughArgs } from '../lib/rules';
import { TableOption, ToolOptionTable, allowedOptions } from '../lib/tool-options/table';

const rejects = (engine: EngineName, direction: ToolDirection, args: string[]) => {
  try {
    passThroughArgs('dumpArgs', engine, direction, args);
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(args)}`);
};

describe('each tool, every spelling class', () => {
  test.each<[string, string[], RegExp]>([
    ['an abbreviated --dbname', ['--dbn=prod'], /^dumpArgs: '--dbn=prod' is pg_dump's --dbname \(-d\), which selects the server, database, user or password; .*use the construct's props/],
    ['an abbreviated --file', ['--file=/tmp/x'], /^dumpArgs: '--file=\/tmp\/x' is pg_dump's --file \(-f\), which would send the data somewhere other than the backup stream/],
    ['--fil, ambiguous since pg_dump 17 has --filter', ['--fil=/tmp/x'], /^dumpArgs: '--fil=\/tmp\/x' is ambiguous: pg_dump would refuse it as a prefix of --file, --filter/],
    ['an abbreviated --format', ['--form=p'], /'--form=p' is pg_dump's --format \(-F\), which the runner sets itself/],
    ['a separate value', ['--format', 'plain'], /'--format' is pg_dump's --format \(-F\)/],
    ['a cluster with a separate value', ['-vf', '/tmp/x'], /'-vf' is pg_dump's --file \(-f\)/],
    ['a cluster with an attached value', ['-vf/tmp/x'], /'-vf\/tmp\/x' is pg_dump's --file \(-f\)/],
    ['an attached short value', ['-Fp'], /'-Fp' is pg_dump's --format \(-F\)/],
    ['a positional database', ['dbname=postgres'], /'dbname=postgres' is a positional argument, which pg_dump would take as the database to dump/],
    ['a positional after an option', ['-n', 'public', 'other'], /'other' is a positional argument/],
    ['-- then a positional', ['--', 'other'], /'--' ends pg_dump's options/],
    ['an ambiguous prefix', ['--no-s'], /'--no-s' is ambiguous: pg_dump would refuse it as a prefix of --no-security-labels, --no-subscriptions, --no-sync;/],
    ['a prefix of two options', ['--schem=x'], /'--schem=x' is ambiguous/],
    ['an unknown option', ['--frobnicate'], /'--frobnicate' is not an option pg_dump knows/],
    ['an unknown short option', ['-vq'], /'-vq' has -q, which is not an option pg_dump knows/],
    ['a value on a flag', ['--no-owner=yes'], /'--no-owner=yes' is --no-owner \(-O\), which takes no value/],
    ['a missing value', ['--schema'], /'--schema' is --schema \(-n\), which needs a value/],
    ['--version (prints and exits 0: an "empty" backup)', ['--vers'], /'--vers' is pg_dump's --version \(-V\), which makes the tool print something and exit/],
    ['the hidden --no-acl alias is --no-privileges, allowed', ['--no-acl', '--verbose'], /^$/],
  ])('pg_dump: %s', (_what, args, expected) => {
    if (expected.source === '^$') {
      expect(passThroughArgs('dumpArgs', 'postgres', 'dump', args)).toEqual(args);
    } else {
      expect(rejects('postgres', 'dump', args)).toMatch(expected);
    }
  });

  test.each<[string[], RegExp]>([
    [['--dbn=prod'], /'--dbn=prod' is pg_restore's --dbname \(-d\)/],
    [['--db=prod'], /'--db=prod' is pg_restore's --dbname/],
    [['--datab=prod'], /'--datab=prod' is not an option pg_restore knows/],
    [['-vd', 'prod'], /'-vd' is pg_restore's --dbname/],
    [['-cdprod'], /'-cdprod' is pg_restore's --dbname/],
    [['--file', '/tmp/x'], /'--file' is pg_restore's --file \(-f\)/],
    [['--li'], /'--li' is pg_restore's --list \(-l\)/],
    [['--cr'], /'--cr' is pg_restore's --create \(-C\), .*not the target/],
    [['-C'], /'-C' is pg_restore's --create/],
    [['--transaction-s=10'], /--transaction-size/],
    [['-j4'], /'-j4' is pg_restore's --jobs \(-j\), which would undo a setting the runner relies on \(cannot read from a pipe/],
    [['/tmp/archive'], /'\/tmp\/archive' is a positional argument, which pg_restore would take as the archive file/],
  ])('pg_restore: %j', (args, expected) => {
    expect(rejects('postgres', 'restore', args)).toMatch(expected);
  });

  test.each<[string[], RegExp]>([
    [['--datab'], /'--datab' is mariadb-dump's --databases \(-B\), .*a restore would overwrite the source database/],
    [['--result=/tmp/x'], /'--result=\/tmp\/x' is mariadb-dump's --result-file \(-r\)/],
    [['--result_file=/tmp/x'], /is mariadb-dump's --result-file/],
    [['-vr/tmp/x'], /'-vr\/tmp\/x' is mariadb-dump's --result-file \(-r\)/],
    [['-vr', '/tmp/x'], /'-vr' is mariadb-dump's --result-file/],
    [['--loose-result-file=x'], /'--loose-result-file=x' is mariadb-dump's --result-file/],
    [['--loose-loose-res=x'], /is mariadb-dump's --result-file/],
    [['--skip-single-transaction'], /'--skip-single-transaction' is mariadb-dump's --single-transaction, which the runner sets itself/],
    [['--disable-quick'], /is mariadb-dump's --quick \(-q\), which the runner sets itself/],
    [['--skip-opt'], /'--skip-opt' is mariadb-dump's --skip-opt/],
    [['--skip-lock-t'], /is mariadb-dump's --lock-tables/],
    [['--maximum-max-allowed-packet=1G'], /'maximum-' prefix/],
    [['--skip-where'], /with a 'skip-' prefix, which only turns an on\/off option off or on/],
    [['--skip-triggers=0'], /with a 'skip-' prefix/],
    [['--triggers=0'], /'--triggers=0' is mariadb-dump's --triggers with a value; give it without one \(--skip-triggers turns it off\)/],
    [['--no-defaults'], /'--no-defaults' is mariadb-dump's --no-defaults, which reads option or config files/],
    [['--defaults-extra=/tmp/my.cnf'], /is mariadb-dump's --defaults-extra-file/],
    [['--tab=/tmp'], /--tab \(-T\)/],
    [['-psecret'], /'-psecret' is mariadb-dump's --password \(-p\)/],
    [['--pass'], /'--pass' is mariadb-dump's --password/],
    [['--ignore'], /'--ignore' is ambiguous: mariadb-dump would refuse it as a prefix of --ignore-database, --ignore-table, --ignore-table-data;/],
    [['shop', 'orders'], /'shop' is a positional argument, which mariadb-dump would take as names of tables to dump/],
    [['--', '--x'], /'--' ends mariadb-dump's options/],
  ])('mariadb-dump: %j', (args, expected) => {
    expect(rejects('mysql', 'dump', args)).toMatch(expected);
  });

  test.each<[string[], RegExp]>([
    [['--datab=other'], /'--datab=other' is mariadb's --database \(-D\)/],
    [['-Dother'], /'-Dother' is mariadb's --database \(-D\)/],
    [['other'], /'other' is a positional argument, which mariadb would take as the database to restore into/],
    [['--exec=DROP DATABASE shop'], /is mariadb's --execute \(-e\)/],
    [['-ve', 'DROP DATABASE shop'], /'-ve' is mariadb's --execute/],
    [['--force'], /'--force' is mariadb's --force \(-f\), which is not among the options allowed through \(would go on after a failed statement/],
    [['--loose-force'], /is mariadb's --force/],
    [['--init=DROP TABLE x'], /is mariadb's --init-command/],
    [['--defaults-file=/tmp/my.cnf'], /which reads option or config files/],
    [['--one-d'], /is mariadb's --one-database \(-o\), which is not among the options allowed through \(the runner's dumps have no USE lines/],
  ])('mariadb: %j', (args, expected) => {
    expect(rejects('mysql', 'restore', args)).toMatch(expected);
  });

  test.each<[ToolDirection, string[], RegExp]>([
    ['dump', ['--arch=/tmp/x'], /'--arch=\/tmp\/x' is not an option mongodump knows \(it takes exact long names only\)/],
    ['dump', ['--archive=/tmp/x'], /'--archive=\/tmp\/x' is mongodump's --archive, which the runner sets itself/],
    ['dump', ['--out=/tmp'], /is mongodump's --out \(-o\)/],
    ['dump', ['-o/tmp'], /is mongodump's --out \(-o\)/],
    ['dump', ['-c', 'x'], /'-c' is mongodump's --collection \(-c\); give it by its long name/],
    ['dump', ['--uri=mongodb://u:p@h'], /is mongodump's --uri, which selects the server/],
    ['dump', ['--collection', '--gzip'], /'--collection' is --collection \(-c\), which needs a value/],
    ['dump', ['extra'], /'extra' is a positional argument/],
    ['restore', ['--nsTo=other.*'], /is mongorestore's --nsTo, which the runner sets itself/],
    ['restore', ['--nsInclude=other.*'], /is mongorestore's --nsInclude, which the runner sets itself/],
    ['restore', ['--dir=/tmp'], /is mongorestore's --dir/],
    ['restore', ['/tmp/dump'], /'\/tmp\/dump' is a positional argument, which mongorestore would take as a directory or file to restore from/],
    ['restore', ['--drop=true'], /which takes no value/],
  ])('%s with mongo tools: %j', (direction, args, expected) => {
    expect(rejects('mongo', direction, args)).toMatch(expected);
  });

  test.each<[string[], RegExp]>([
    [['--rdb', '/tmp/x'], /'--rdb' is redis-cli's --rdb, which the runner sets itself/],
    [['-a', 'secret'], /'-a' is redis-cli's -a, which selects the server/],
    [['--pa', 'secret'], /'--pa' is not an option redis-cli knows \(it matches whole names only\)/],
    [['FLUSHALL'], /'FLUSHALL' is a positional argument, which redis-cli would take as a command/],
    [['--verbose'], /is redis-cli's --verbose, which is not among the options allowed through/],
  ])('redis-cli: %j', (args, expected) => {
    expect(rejects('redis', 'dump', args)).toMatch(expected);
  });

  test('Redis restores by writing a file, so restore arguments are refused', () => {
    expect(passThroughArgs('restoreArgs', 'redis', 'restore', [])).toEqual([]);
    expect(() => passThroughArgs('restoreArgs', 'redis', 'restore', ['-x'])).toThrow(/^restoreArgs: Redis's restore runs no tool that takes arguments/);
  });

  test.each<[EngineName, ToolDirection, string[]]>([
    ['postgres', 'dump', ['--exclude-table=audit_log', '--schema', 'public', '-n', 'app', '-Nx', '-vO', '--no-own', '--exclude-table-data=logs', '-T', 'tmp_*', '--lock-wait=30s']],
    ['postgres', 'restore', ['--clean', '--if-exists', '-cO', '--schema=public', '-t', 'orders', '--no-priv']],
    ['mysql', 'dump', ['--ignore-table=shop.sessions', '--ignore-table', 'shop.carts', '--skip-triggers', '--where=id>0', '-d', '--no-create-i', '--loose-skip-events', '--disable-routines', '--max-allowed-packet=1G', '--skip-add-drop-table']],
    ['mysql', 'restore', ['--max-allowed-packet=1G', '--binary-mode', '--show-warnings', '-v']],
    ['mongo', 'dump', ['--collection=orders', '--excludeCollection', 'sessions', '--query={"a":1}', '--numParallelCollections=2', '--verbose']],
    ['mongo', 'restore', ['--drop', '--nsExclude=shop.sessions', '--noIndexRestore', '--maintainInsertionOrder']],
  ])('%s %s accepts the allowed options in the spellings the tool reads: %j', (engine, direction, args) => {
    expect(passThroughArgs('dumpArgs', engine, direction, args)).toEqual(args);
  });
});

/** Every table the runner uses, with its engine and direction. */
const TABLES: Array<{ engine: EngineName; direction: ToolDirection; table: ToolOptionTable }> = ENGINE_NAMES.flatMap(engine =>
  (['dump', 'restore'] as const).flatMap(direction => {
    const table = ENGINE_REGISTRY[engine].passThrough[direction as 'dump'] as ToolOptionTable | undefined;
    return table ? [{ engine, direction, table }] : [];
  }));

/**
 * The prefixes of `option`'s long name the tool resolves to it, computed here from the table
 * alone: the name itself, and each shorter prefix that no other option (no other option of a
 * different identity, for glibc) starts with.
 */
function resolvingPrefixes(table: ToolOptionTable, option: TableOption): string[] {
  const long = option.long!;
  if (table.syntax === 'go-flags' || table.syntax === 'redis-cli') return [long];
  const norm = (s: string) => (table.syntax === 'my_getopt' ? s.replace(/_/g, '-') : s);
  const identity = (o: TableOption) => `${o.aliasOf ?? o.long}/${o.value}`;
  const out: string[] = [];
  for (let n = 1; n <= long.length; n++) {
    const prefix = long.slice(0, n);
    const exact = table.options.find(o => o.long !== undefined && norm(o.long) === norm(prefix));
    if (exact) {
      if (exact === option) out.push(prefix);
      continue;
    }
    const others = table.options.filter(o => o.long !== undefined && norm(o.long).startsWith(norm(prefix)));
    const unique = table.syntax === 'getopt_long'
      ? new Set(others.map(identity)).size === 1
      : others.length === 1;
    if (unique) out.push(prefix);
  }
  return out;
}

/** An allowed short flag without a value, to put before a letter in a cluster. */
function allowedFlag(table: ToolOptionTable): string | undefined {
  return table.options.find(o => o.verdict === 'allow' && o.short !== undefined && o.value === 'none')?.short;
}

interface Spelling {
  readonly args: string[];
  /** The tool sees `option` by this spelling alone (not through an option named like a MariaDB prefix, e.g. --skip-opt). */
  readonly direct: boolean;
}

/** Every argument list that makes the tool see `option`. */
function spellings(table: ToolOptionTable, option: TableOption): Spelling[] {
  const out: Spelling[] = [];
  const add = (direct: boolean, ...lists: string[][]) => lists.forEach(args => out.push({ args, direct }));
  const withValue = (flag: string): string[][] => {
    switch (option.value) {
      case 'none': return [[flag]];
      case 'required': return [[`${flag}=v`], [flag, 'v']];
      case 'optional': return [[flag], [`${flag}=v`]];
    }
  };
  if (option.long !== undefined) {
    for (const prefix of resolvingPrefixes(table, option)) {
      add(true, ...withValue(`--${prefix}`));
      if (table.syntax === 'my_getopt') {
        add(true, ...withValue(`--loose-${prefix}`), ...withValue(`--loose_${prefix.replace(/-/g, '_')}`));
        add(false, ...['skip', 'disable', 'enable', 'maximum'].map(special => [`--${special}-${prefix}`]));
      }
    }
  }
  if (option.short !== undefined) {
    const letter = option.short;
    if (table.syntax === 'redis-cli') {
      add(true, option.value === 'none' ? [`-${letter}`] : [`-${letter}`, 'v']);
    } else {
      // go-flags refuses every short option; its clusters are not read further.
      const flag = table.syntax === 'go-flags' ? undefined : allowedFlag(table);
      for (const start of [`-${letter}`, ...(flag === undefined ? [] : [`-${flag}${letter}`])]) {
        switch (option.value) {
          case 'none': add(true, [start], ...(flag === undefined ? [] : [[`${start}${flag}`]])); break;
          case 'required': add(true, [`${start}v`], [`${start}/tmp/x`], [start, 'v']); break;
          case 'optional': add(true, [start], [`${start}v`]); break;
        }
      }
    }
  }
  return out;
}

/** Minimal runner environments, per engine. */
const RUNNER_ENV: Record<EngineName, NodeJS.ProcessEnv> = {
  postgres: { [ENGINE_REGISTRY.postgres.env.DATABASE]: 'orders' },
  mongo: { [ENGINE_REGISTRY.mongo.env.URI]: 'mongodb://u:p@h/' },
  mysql: {
    [ENGINE_REGISTRY.mysql.env.HOST]: 'mysql',
    [ENGINE_REGISTRY.mysql.env.USER]: 'backup',
    [ENGINE_REGISTRY.mysql.env.DATABASE]: 'shop',
  },
  redis: { [ENGINE_REGISTRY.redis.env.HOST]: 'redis' },
};

function runnerRefuses(engine: EngineName, direction: ToolDirection, args: string[]): string | undefined {
  const env = {
    [ENV.ENGINE]: engine,
    [ENV.DESTINATION]: 's3://my-bucket/prod',
    [ENV.NAME]: 'orders',
    [ENV.AWS_REGION]: 'us-east-1',
    ...RUNNER_ENV[engine],
  };
  const argv = direction === 'dump' ? ['backup', '--', ...args] : ['restore', 'latest', '--', ...args];
  try {
    loadRunConfig(argv, env);
    return undefined;
  } catch (e) {
    // A RuleError (ConfigError is one) is the runner's exit 2: nothing started.
    if (!(e instanceof RuleError)) throw e;
    return e.message;
  }
}

/** Builds the construct that takes `args` for `engine` and `direction`; returns the error, if any. */
function constructRefuses(engine: EngineName, direction: ToolDirection, args: string[]): string | undefined {
  const chart = newChart();
  const secret = (name: string, key: string) => ({ secret: kplus.Secret.fromSecretName(chart, `S-${name}`, name), key });
  const schedule = BackupSchedule.daily({ hour: 1 });
  try {
    // postgresProps makes its own storage; the others take this one.
    const storage = engine === 'postgres' && direction === 'dump' ? undefined! : s3Storage(chart);
    if (direction === 'dump') {
      switch (engine) {
        case 'postgres': new PostgresBackupCronJob(chart, 'orders', postgresProps(chart, { dumpArgs: args })); break;
        case 'mysql': new MysqlBackupCronJob(chart, 'shop', { schedule, storage, host: 'mysql', database: 'shop', username: 'backup', password: secret('my', 'password'), dumpArgs: args }); break;
        case 'mongo': new MongoBackupCronJob(chart, 'catalog', { schedule, storage, uri: secret('mongo', 'uri'), database: 'catalog', dumpArgs: args }); break;
        case 'redis': new RedisBackupCronJob(chart, 'sessions', { schedule, storage, host: 'redis', dumpArgs: args }); break;
      }
    } else {
      switch (engine) {
        case 'postgres': new PostgresRestoreJob(chart, 'r', {
          series: BackupSeries.fromName(storage, 'orders', 'postgres'), host: 'pg', database: 'orders', username: 'owner', password: secret('pg', 'password'), restoreArgs: args,
        }); break;
        case 'mysql': new MysqlRestoreJob(chart, 'r', {
          series: BackupSeries.fromName(storage, 'shop', 'mysql'), host: 'mysql', database: 'shop', username: 'restore', password: secret('my', 'password'), restoreArgs: args,
        }); break;
        case 'mongo': new MongoRestoreJob(chart, 'r', { series: BackupSeries.fromName(storage, 'catalog', 'mongo'), uri: secret('mongo', 'uri'), restoreArgs: args }); break;
        case 'redis': throw new Error('Redis has no restore construct');
      }
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('generated: every spelling of every option that is not allowed is refused by both sides', () => {
  test.each(TABLES.map(t => [t.table.tool, t.engine, t.direction, t.table] as const))('%s (%s %s)', (_tool, engine, direction, table) => {
    const failures: string[] = [];
    let cases = 0;
    for (const option of table.options.filter(o => o.verdict !== 'allow')) {
      const name = option.aliasOf ?? option.long;
      const named = new RegExp(name !== undefined ? `--${name}\\b` : `-${option.short!.replace(/[?#]/, '\\$&')}`);
      for (const { args, direct } of spellings(table, option)) {
        cases++;
        const construct = constructRefuses(engine, direction, args);
        const runner = runnerRefuses(engine, direction, args);
        const field = direction === 'dump' ? 'dumpArgs' : 'restoreArgs';
        if (construct === undefined || !construct.includes(`${field}: '`)) {
          failures.push(`construct accepted ${JSON.stringify(args)}: ${construct}`);
          continue;
        }
        if (runner === undefined) {
          failures.push(`runner accepted ${JSON.stringify(args)}`);
          continue;
        }
        // Both sides say the same thing after the field's name.
        const constructSays = construct.slice(construct.indexOf(`${field}: `) + field.length + 2);
        const runnerSays = runner.slice(runner.indexOf(' arguments: ') + ' arguments: '.length);
        if (constructSays !== runnerSays) failures.push(`the sides disagree on ${JSON.stringify(args)}: ${runner} / ${construct}`);
        // The error names the option the tool would have seen, or why the tool refuses the spelling.
        if (direct && !named.test(construct) && !/is ambiguous|which takes no value|not an option/.test(construct)) {
          failures.push(`${JSON.stringify(args)}: the error does not name ${option.long ?? option.short}: ${construct}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(cases).toBeGreaterThan(10);
  });

  test.each(TABLES.map(t => [t.table.tool, t.engine, t.direction, t.table] as const))('%s (%s %s): every allowed option, in every unique spelling, passes both sides', (_tool, engine, direction, table) => {
    const failures: string[] = [];
    for (const option of allowedOptions(table)) {
      const flag = `--${option.long}`;
      const variants = resolvingPrefixes(table, option).map(p => `--${p}`);
      for (const spelled of table.syntax === 'go-flags' ? [flag] : variants) {
        const args = option.value === 'required' ? [`${spelled}=x`] : [spelled];
        const construct = constructRefuses(engine, direction, args);
        const runner = runnerRefuses(engine, direction, args);
        if (construct !== undefined) failures.push(`construct refused ${JSON.stringify(args)}: ${construct}`);
        if (runner !== undefined) failures.push(`runner refused ${JSON.stringify(args)}: ${runner}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

/**
 * `--help` of the tools in the companion image, saved in test/fixtures/tool-help (regenerate them
 * with `podman run --rm <image> <tool> --help` when the image's clients change version).
 */
const HELP: Record<string, { file: string; entry: RegExp }> = {
  'pg_dump': { file: 'pg_dump.txt', entry: /^ {2}(?:-(\S), )?--([a-z0-9-]+)(=[^\s[]+|\[=[^\]]+\])?/ },
  'pg_restore': { file: 'pg_restore.txt', entry: /^ {2}(?:-(\S), )?--([a-z0-9-]+)(=[^\s[]+|\[=[^\]]+\])?/ },
  'mariadb-dump': { file: 'mariadb-dump.txt', entry: /^(?: {2})?(?:-(\S), )?--([a-z][a-z0-9-]*)(=\S+|\[=[^\]]+\])?/ },
  'mariadb': { file: 'mariadb.txt', entry: /^(?: {2})?(?:-(\S), )?--([a-z][a-z0-9-]*)(=\S+|\[=[^\]]+\])?/ },
  'redis-cli': { file: 'redis-cli.txt', entry: /^ {2}(?:-(\S)|--([a-z0-9_-]+))( <[^>]+>)?(?:\s|$)/ },
};

describe("the tables hold every option of the image's tools, with the same value mode", () => {
  test.each(TABLES.filter(t => HELP[t.table.tool] !== undefined).map(t => [t.table.tool, t.table] as const))('%s', (tool, table) => {
    const help = fs.readFileSync(path.join(__dirname, 'fixtures', 'tool-help', HELP[tool].file), 'utf8');
    const canonicalOf = (o: TableOption) => (o.aliasOf === undefined ? o : table.options.find(t => t.long === o.aliasOf)!);
    const problems: string[] = [];
    let entries = 0;
    for (const line of help.split('\n')) {
      const m = HELP[tool].entry.exec(line);
      if (!m) continue;
      entries++;
      const [, short, long, valueText] = m;
      // redis-cli's help shows -X's value only in its description ("Read <tag> argument"); it takes one.
      const value = tool === 'redis-cli' && short === 'X' ? 'required'
        : valueText === undefined ? 'none' : valueText.startsWith('[') ? 'optional' : 'required';
      const byLong = long === undefined ? undefined : table.options.find(o => o.long === long);
      const byShort = short === undefined ? undefined : table.options.find(o => o.short === short);
      if (long !== undefined && !byLong) problems.push(`--${long} is missing`);
      if (short !== undefined && !byShort) problems.push(`-${short} is missing`);
      const option = byLong ?? byShort;
      if (option && option.value !== value) problems.push(`${line.trim()}: the table says its value is ${option.value}`);
      if (byLong && byShort && canonicalOf(byLong) !== canonicalOf(byShort)) problems.push(`${line.trim()}: -${short} and --${long} are different options in the table`);
    }
    expect(problems).toEqual([]);
    expect(entries).toBeGreaterThan(20);
  });
});

describe('the parsers themselves', () => {
  const PG = ENGINE_REGISTRY.postgres.passThrough.dump;
  test('getopt_long: a cluster is read letter by letter until a letter takes a value', () => {
    expect(parseToolArgs(PG.syntax, PG.options, ['-vOn', 'public', '-Tx'], 'pg_dump').map(p => (p.kind === 'option' ? [p.option.long, p.value ?? null] : p.kind)))
      .toEqual([['verbose', null], ['no-owner', null], ['schema', 'public'], ['exclude-table', 'x']]);
  });

  test('getopt_long: a required value is the next argument, whatever it looks like', () => {
    // pg_dump -n --file: the schema pattern is "--file"; nothing is written to a file.
    expect(passThroughArgs('dumpArgs', 'postgres', 'dump', ['-n', '--file'])).toEqual(['-n', '--file']);
  });

  test('my_getopt: a required value is the next argument too, and prefixes stack', () => {
    const MY = ENGINE_REGISTRY.mysql.passThrough.dump;
    const parsed = parseToolArgs(MY.syntax, MY.options, ['--ignore-table', '--result-file=x', '--skip-loose-trig'], 'mariadb-dump');
    expect(parsed.map(p => (p.kind === 'option' ? [p.option.long, p.value ?? null, p.prefixes] : p.kind)))
      .toEqual([['ignore-table', '--result-file=x', []], ['triggers', null, ['skip', 'loose']]]);
  });
});

describe('README', () => {
  test('the "Pass-through options" section is generated from the tables (run `npx ts-node --prefer-ts-exts test/pass-through-readme.ts` to update it)', () => {
    const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const start = readme.indexOf(README_MARKERS.start);
    const end = readme.indexOf(README_MARKERS.end);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    expect(readme.slice(start, end + README_MARKERS.end.length)).toBe(passThroughReadme());
  });
});
