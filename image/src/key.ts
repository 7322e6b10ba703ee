/**
 * Object keys: `<series prefix><UTC timestamp>-<8 hex>.<ext>`, where the storage gives the series
 * prefix (`<prefix>/<name>/`) and `<ext>` is the engine's extension, the compression's suffix and,
 * for an age-encrypted backup, `.age` (`pgdump.zst.age`). The timestamp is the pod's clock at the start, for people reading a
 * listing (the run refuses to start when that clock disagrees with the storage's); order, periods
 * and ages come from the times the storage records (catalog.ts). The random part makes two runs in
 * the same second distinct, so a key is never reused and nothing is overwritten.
 */
import { randomBytes } from 'node:crypto';

export const MANIFEST_SUFFIX = '.manifest.json';

/** 2024-05-01T02:03:04.567Z → 20240501T020304Z */
export function timestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** The data key of a backup started at `date`; `seriesPrefix` ends with '/' (Storage.seriesPrefix). */
export function backupKey(seriesPrefix: string, extension: string, date: Date, random = randomBytes(4).toString('hex')): string {
  return `${seriesPrefix}${timestamp(date)}-${random}.${extension}`;
}

export function manifestKey(dataKey: string): string {
  return dataKey + MANIFEST_SUFFIX;
}

/** The backup id of a data or manifest key: its file name up to the first '.'. */
export function backupIdOf(key: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const dot = base.indexOf('.');
  return dot < 0 ? base : base.slice(0, dot);
}

/** The start time a backup id encodes (to the second). */
export function timeOfId(id: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  if (!m) throw new Error(`'${id}' is not a backup id`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}
