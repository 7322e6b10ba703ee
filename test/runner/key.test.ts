import { backupKey, manifestKey, timestamp } from '../../image/src/key';

describe('object keys', () => {
  const date = new Date('2024-05-01T02:03:04.567Z');

  test('layout: <series prefix><UTC timestamp>-<8 hex>.<ext>', () => {
    expect(backupKey('prod/db/orders/', 'pgdump.zst', date, 'deadbeef')).toBe('prod/db/orders/20240501T020304Z-deadbeef.pgdump.zst');
    expect(backupKey('orders/', 'archive', date, '0badf00d')).toBe('orders/20240501T020304Z-0badf00d.archive');
    expect(manifestKey('orders/20240501T020304Z-0badf00d.archive')).toBe('orders/20240501T020304Z-0badf00d.archive.manifest.json');
  });

  test('the timestamp is UTC whatever the local zone, and sorts chronologically', () => {
    expect(timestamp(date)).toBe('20240501T020304Z');
    const later = [new Date('2024-05-01T02:03:05Z'), new Date('2024-12-31T23:59:59Z'), new Date('2025-01-01T00:00:00Z')];
    const keys = [date, ...later].map(d => backupKey('n/', 'x', d, '00000000'));
    expect([...keys].sort()).toEqual(keys);
  });

  test('runs in the same second get distinct keys', () => {
    const keys = new Set(Array.from({ length: 10_000 }, () => backupKey('p/n/', 'pgdump.zst', date)));
    expect(keys.size).toBe(10_000);
    for (const key of keys) expect(key).toMatch(/^p\/n\/20240501T020304Z-[0-9a-f]{8}\.pgdump\.zst$/);
  });
});
