import { Destination } from '../config';
import { FileStorage } from './file';
import type { S3Storage } from './s3';
import { Storage } from './storage';

export function createStorage(destination: Destination): Storage {
  switch (destination.kind) {
    case 's3': {
      // Required here, not imported: the AWS SDK is most of the runner's start-up cost (~0.2 of
      // 0.3 CPU-seconds), and a file:// run never needs it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const s3: { S3Storage: typeof S3Storage } = require('./s3');
      return new s3.S3Storage(destination);
    }
    case 'file': return new FileStorage(destination.dir, destination.maxClockSkewMs, destination.stallTimeoutMs);
  }
}
