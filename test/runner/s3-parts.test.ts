import { partSizeFor } from '../../image/src/storage/s3';

const MiB = 1024 * 1024;

describe('multipart part size', () => {
  test('8 MiB when the size is unknown or small: memory stays flat', () => {
    expect(partSizeFor(undefined)).toBe(8 * MiB);
    expect(partSizeFor(1.1e9)).toBe(8 * MiB);
    expect(partSizeFor(40e9)).toBe(8 * MiB);
  });

  test.each([50e9, 200e9, 1e12, 4.8e12])('a %d-byte estimate fits in 10,000 parts with room to double', size => {
    const part = partSizeFor(size);
    expect(part % MiB).toBe(0);
    expect(Math.ceil((2 * size) / part)).toBeLessThanOrEqual(10_000);
  });
});
