/**
 * What the real-server runner tests share: a bucket of their own on the test S3 server, views of
 * what it holds (objects, open multipart uploads), the runner's S3 environment and fault checks.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CreateBucketCommand, GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { LogLine } from './runner-process';
import { ENV } from '../../lib/contract';
import { requireS3, s3ClientConfig, uniqueName } from '../servers/env';

export interface TestBucket {
  readonly s3: S3Client;
  readonly bucket: string;
  /** Every object in the bucket with its size and ETag. */
  objects(): Promise<Record<string, string>>;
  openUploads(): Promise<string[]>;
  download(key: string, file: string): Promise<void>;
  /** The runner's S3 variables for `s3://<bucket>/<prefix>`. */
  runnerEnv(prefix: string): NodeJS.ProcessEnv;
}

export async function createTestBucket(prefix: string): Promise<TestBucket> {
  const s3 = new S3Client(s3ClientConfig());
  const bucket = uniqueName(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    s3,
    bucket,
    async objects() {
      const out: Record<string, string> = {};
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
        for (const o of page.Contents ?? []) out[o.Key!] = `${o.Size}:${o.ETag}`;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async openUploads() {
      const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      return (page.Uploads ?? []).map(u => `${u.Key} ${u.UploadId}`);
    },
    async download(key, file) {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await pipeline(out.Body as Readable, fs.createWriteStream(file));
    },
    runnerEnv(keyPrefix) {
      const c = requireS3();
      return {
        [ENV.DESTINATION]: `s3://${bucket}/${keyPrefix}`,
        [ENV.AWS_REGION]: c.region,
        [ENV.AWS_ENDPOINT_URL_S3]: c.endpoint,
        [ENV.S3_FORCE_PATH_STYLE]: 'true',
        [ENV.AWS_ACCESS_KEY_ID]: c.accessKeyId,
        [ENV.AWS_SECRET_ACCESS_KEY]: c.secretAccessKey,
      };
    },
  };
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The key of this run's data object, from its 'dump starting' line. */
export function keyOf(lines: LogLine[]): string {
  const line = lines.find(l => l.msg === 'dump starting');
  if (!line) throw new Error('no dump starting line');
  return line.key as string;
}

/** Samples the process's resident memory until it exits; returns a getter for the peak. */
export function samplePeakRss(pid: number): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      peak = Math.max(peak, kb * 1024);
    } catch {
      clearInterval(timer);
    }
  }, 20);
  return () => peak;
}

/**
 * Checks a failed run left the bucket as `before`: no object or manifest at `key`, no open
 * multipart upload.
 */
export async function expectNothingLeft(b: TestBucket, before: Record<string, string>, key: string | undefined): Promise<void> {
  const after = await b.objects();
  expect(after).toEqual(before);
  if (key) {
    expect(after[key]).toBeUndefined();
    expect(after[`${key}.manifest.json`]).toBeUndefined();
  }
  expect(await b.openUploads()).toEqual([]);
}
