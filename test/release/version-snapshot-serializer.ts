/**
 * A jest snapshot serializer: the library's version (package.json) is written as `<version>` in
 * snapshots, in default image tags (`…:<version>-postgres`) and wherever it is a whole string (the
 * app.kubernetes.io/version label). The repository says 0.0.0 and the release build bumps it before
 * running the tests, so snapshots must not depend on it. test/release/release.test.ts checks this.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ENGINE_NAMES } from '../../lib/registry';

export const VERSION_PLACEHOLDER = '<version>';
const VERSION: string = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;
const escaped = VERSION.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const IMAGE_TAG = new RegExp(`:${escaped}-(${ENGINE_NAMES.join('|')})\\b`, 'g');

export function maskVersion(value: string): string {
  return value === VERSION ? VERSION_PLACEHOLDER : value.replace(IMAGE_TAG, `:${VERSION_PLACEHOLDER}-$1`);
}

// The module itself is the plugin (jest loads it with require): `test` and `serialize`.
type Printer = (value: unknown, config: unknown, indentation: string, depth: number, refs: unknown) => string;

export function test(value: unknown): boolean {
  return typeof value === 'string' && maskVersion(value) !== value;
}

export function serialize(value: string, config: unknown, indentation: string, depth: number, refs: unknown, printer: Printer): string {
  return printer(maskVersion(value), config, indentation, depth, refs);
}
