/**
 * The `compat` task: jsii-diff of this build's assembly against the previous release, failing on a
 * breaking change to the public API (see the README's semver policy).
 *
 *   compat.ts                    against the newest release on npm
 *   compat.ts --baseline <dir>   against a local assembly (a folder with package.json and .jsii)
 *
 * jsii-diff alone cannot be trusted with the download: when `npm install` of the baseline fails it
 * asks `npm show`, and any failure of that (no network, a registry outage) counts as "no such
 * package": it prints "Skipping analysis" and passes. So npm is asked here first, and only its E404
 * means there is nothing to compare.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const IGNORE_FILE = '.compatignore';

function fail(message: string): never {
  console.error(`compat: ${message}`);
  process.exit(1);
}

function jsiiDiff(original: string, updated: string): number {
  const bin = require.resolve('jsii-diff/bin/jsii-diff');
  const r = spawnSync(process.execPath, [bin, original, updated, '--keys', '--ignore-file', IGNORE_FILE], { encoding: 'utf8' });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  if (r.error) fail(`cannot run jsii-diff: ${r.error.message}`);
  if (/Skipping analysis/.test(r.stderr ?? '')) {
    fail(`jsii-diff could not load ${original}, so nothing was compared (see above)`);
  }
  if (r.status !== 0) {
    console.error(`compat: breaking API changes against ${original} (listed above). Keep the old API, or, for a deliberate break `
      + `in a new major version (or a 0.x minor), add the keys shown after each change to ${IGNORE_FILE}.`);
  }
  return r.status ?? 1;
}

/** The newest published version, or undefined when npm says the package does not exist (E404). */
function latestRelease(name: string): string | undefined {
  const r = spawnSync('npm', ['view', `${name}@latest`, 'version', '--json'], { encoding: 'utf8' });
  if (r.error) fail(`cannot run npm to find the latest release of ${name}: ${r.error.message}`);
  const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  if (r.status !== 0) {
    if (/\bE404\b/.test(output)) return undefined;
    const why = output.split('\n').map(l => l.trim()).find(l => l && !/^[{}]/.test(l)) ?? `exit ${r.status}`;
    fail(`cannot ask npm for the latest release of ${name} (${why}); the check needs the registry, and only "not found" (E404) passes without it`);
  }
  let version: unknown;
  try {
    version = JSON.parse(r.stdout);
  } catch {
    fail(`npm view ${name} printed no JSON: ${r.stdout.trim()}`);
  }
  if (typeof version !== 'string' || !version) fail(`npm view ${name} printed no version: ${r.stdout.trim()}`);
  return version;
}

function main(argv: string[]): number {
  const current = process.cwd();
  if (!fs.existsSync(path.join(current, '.jsii'))) fail('no .jsii in the project folder: compile first (npx projen compile)');
  const name: string = JSON.parse(fs.readFileSync(path.join(current, 'package.json'), 'utf8')).name;

  if (argv[0] === '--baseline') {
    const dir = argv[1];
    if (!dir || argv.length !== 2) fail('usage: compat.ts [--baseline <folder with package.json and .jsii>]');
    if (!fs.existsSync(path.join(dir, '.jsii'))) fail(`--baseline ${dir}: no .jsii there`);
    return jsiiDiff(dir, current);
  }
  if (argv.length) fail(`unknown arguments ${argv.join(' ')} (usage: compat.ts [--baseline <folder>])`);

  const version = latestRelease(name);
  if (version === undefined) {
    console.log(`no release of ${name} on npm yet: nothing to compare`);
    return 0;
  }
  console.log(`compat: comparing with ${name}@${version} from npm`);
  return jsiiDiff(`npm:${name}@${version}`, current);
}

process.exit(main(process.argv.slice(2)));
