import { Destination } from '../config';
import { FileStorage } from './file';
import { S3Storage } from './s3';
import { Storage } from './storage';

export function createStorage(destination: Destination): Storage {
  switch (destination.kind) {
    case 's3': return new S3Storage(destination);
    case 'file': return new FileStorage(destination.dir, destination.maxClockSkewMs, destination.stallTimeoutMs);
  }
}
