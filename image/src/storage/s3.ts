/**
 * S3 and S3-compatible servers (MinIO, Ceph radosgw) through the AWS SDK, so every credential chain
 * (static keys, IRSA, Pod Identity) works. Data goes up as a streamed multipart upload with bounded
 * memory: at most `queueSize` parts in flight plus one being filled.
 */
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListMultipartUploadsCommand, ListMultipartUploadsCommandOutput, ListObjectsV2Command,
  ListObjectsV2CommandOutput, S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3Destination } from '../config';
import { PutOptions, Storage, StoredObject, Unfinished } from './storage';

/**
 * 8 MiB parts, two in flight: measured on a 1.1 GB dump into radosgw, 16 MiB x 4 peaked at 199 MB
 * RSS, 8 MiB x 2 at 141 MB, at the same speed (the dump, not the upload, is the bottleneck).
 */
const MIN_PART_SIZE = 8 * 1024 * 1024;
const QUEUE_SIZE = 2;
/** S3 allows 10,000 parts; the part size keeps twice the size estimate below that. */
const MAX_PARTS = 10_000;

/**
 * The part size for a body of about `sizeHint` bytes: 8 MiB (a 78 GiB object) unless the estimate
 * needs more. Memory is about three parts, so it stays flat up to ~40 GB and grows beyond.
 */
export function partSizeFor(sizeHint: number | undefined): number {
  const needed = Math.ceil((2 * (sizeHint ?? 0)) / MAX_PARTS);
  return Math.max(MIN_PART_SIZE, Math.ceil(needed / (1024 * 1024)) * 1024 * 1024);
}
/** How long a failed run keeps trying to abort its multipart upload (the Pod's grace period is 60 s). */
const ABORT_DEADLINE_MS = 30_000;

export class S3Storage implements Storage {
  public readonly location: string;
  private readonly client: S3Client;

  constructor(private readonly dest: S3Destination, private readonly abortDeadlineMs = ABORT_DEADLINE_MS) {
    this.location = `s3://${dest.bucket}`;
    this.client = new S3Client({
      region: dest.region,
      endpoint: dest.endpoint,
      forcePathStyle: dest.forcePathStyle,
      // S3-compatible servers reject or mangle the newer flexible checksums (see DESIGN.md).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Without timeouts a silently dropped connection hangs the run until the Job deadline.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    });
  }

  async preflight(): Promise<void> {
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.dest.bucket, MaxKeys: 1 }));
    } catch (err) {
      throw new Error(`cannot reach bucket ${this.location}${this.dest.endpoint ? ` at ${this.dest.endpoint}` : ''}: ${s3Cause(err)}`, { cause: err });
    }
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<StoredObject> {
    const url = `${this.location}/${key}`;
    if (await this.exists(key)) throw new Error(`refusing to overwrite ${url}`);
    const upload = new Upload({
      client: this.client,
      queueSize: QUEUE_SIZE,
      partSize: partSizeFor(options.sizeHint),
      leavePartsOnError: false,
      // If-None-Match also guards the final write (PutObject or CompleteMultipartUpload) on servers
      // that support conditional writes; the HEAD above covers the others.
      params: { Bucket: this.dest.bucket, Key: key, Body: body, ContentType: options.contentType, IfNoneMatch: '*' },
    });
    try {
      await upload.done();
    } catch (err) {
      // done() rejects once lib-storage has sent (or failed to send) its own abort; make sure.
      const left = await this.abortOpenUploads(key);
      const suffix = left.length > 0
        ? `; multipart upload ${left.join(', ')} could not be aborted and is left open (a bucket lifecycle rule AbortIncompleteMultipartUpload removes it)`
        : '';
      throw new Error(`upload to ${url} failed${suffix}`, { cause: err });
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.dest.bucket, Key: key }));
    return { key, bytes: head.ContentLength ?? -1 };
  }

  async get(key: string): Promise<Readable> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.dest.bucket, Key: key }));
    return out.Body as Readable;
  }

  async list(prefix: string): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.client.send(new ListObjectsV2Command({
        Bucket: this.dest.bucket, Prefix: prefix, ContinuationToken: token,
      }));
      for (const o of page.Contents ?? []) out.push({ key: o.Key!, bytes: o.Size ?? 0, modified: o.LastModified });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.dest.bucket, Key: key }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw new Error(`cannot check whether ${this.location}/${key} exists: ${s3Cause(err)}`, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.dest.bucket, Key: key }));
  }

  async listIncomplete(prefix: string): Promise<string[]> {
    return (await this.openUploads(prefix)).map(u => u.key);
  }

  async listUnfinished(prefix: string): Promise<Unfinished[]> {
    return (await this.openUploads(prefix)).map(u => ({ key: u.key, started: u.initiated ?? new Date(0), handle: u.uploadId }));
  }

  async removeUnfinished(u: Unfinished): Promise<void> {
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.dest.bucket, Key: u.key, UploadId: u.handle }));
  }

  /**
   * Aborts every open multipart upload for exactly `key` until a listing shows none, retrying
   * through a flaky connection until the deadline. Returns the upload ids still open (empty: verified).
   */
  async abortOpenUploads(key: string): Promise<string[]> {
    const deadline = Date.now() + this.abortDeadlineMs;
    let delay = 250;
    let open: string[] = ['(unknown: S3 unreachable)'];
    for (;;) {
      try {
        const uploads = (await this.openUploads(key)).filter(u => u.key === key);
        open = uploads.map(u => u.uploadId);
        if (uploads.length === 0) return [];
        for (const u of uploads) {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.dest.bucket, Key: key, UploadId: u.uploadId }));
        }
      } catch {
        // S3 may be briefly unreachable: that is often why the upload failed. Try again.
      }
      if (Date.now() + delay > deadline) return open;
      await new Promise(r => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4_000);
    }
  }

  private async openUploads(prefix: string): Promise<Array<{ key: string; uploadId: string; initiated?: Date }>> {
    const out: Array<{ key: string; uploadId: string; initiated?: Date }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page: ListMultipartUploadsCommandOutput = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.dest.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker,
      }));
      for (const u of page.Uploads ?? []) out.push({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated });
      if (!page.IsTruncated) return out;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }
}

/** The useful part of an SDK error: the S3 error code and message, or the network error. */
export function s3Cause(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return s3Cause(err.errors[0]);
  if (!(err instanceof Error)) return String(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const code = (err as NodeJS.ErrnoException).code;
  const parts = [err.name !== 'Error' ? err.name : code, err.message && err.message !== err.name && err.message !== 'UnknownError' ? err.message : undefined];
  if (status && !parts[1]) parts.push(`HTTP ${status}`);
  return parts.filter(Boolean).join(': ') || 'unknown error';
}
