/**
 * Object keys: `<prefix>/<name>/<UTC timestamp>-<8 hex>.<ext>`. The timestamp sorts
 * chronologically; the random part makes two runs in the same second distinct, so a key is never
 * reused and nothing is overwritten.
 */
import { randomBytes } from 'node:crypto';

export const MANIFEST_SUFFIX = '.manifest.json';

/** 2024-05-01T02:03:04.567Z → 20240501T020304Z */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export function backupKey(prefix: string, name: string, extension: string, date: Date, random = randomBytes(4).toString('hex')): string {
  return `${prefix ? `${prefix}/` : ''}${name}/${timestamp(date)}-${random}.${extension}`;
}

export function manifestKey(dataKey: string): string {
  return dataKey + MANIFEST_SUFFIX;
}
