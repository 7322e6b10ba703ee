/**
 * S3 and S3-compatible servers (MinIO, Ceph radosgw) through the AWS SDK, so every credential chain
 * (static keys, IRSA, Pod Identity) works. Data goes up as a streamed multipart upload with bounded
 * memory: at most QUEUE_SIZE parts in flight plus one being filled.
 */
import { addAbortSignal, Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompletedPart, CompleteMultipartUploadCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand,
  ListMultipartUploadsCommandOutput, ListObjectsV2Command, ListObjectsV2CommandOutput, PutObjectCommand,
  S3Client, ServerSideEncryption, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { S3Destination } from '../config';
import { DEFAULT_STALL_TIMEOUT_MS, guardStall, stallError } from './stall';
import { ClockReading, DEFAULT_MAX_CLOCK_SKEW_MS, ObjectExistsError, PutOptions, Storage, StoredObject, Unfinished } from './storage';

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

  public readonly maxClockSkewMs: number;
  /** Seconds without progress after which a transfer fails (BACKUP_STALL_TIMEOUT_SECONDS), in ms. */
  private readonly stallTimeoutMs: number;
  /**
   * For GetObject only: without the socket timeout, which would also fire while the body waits
   * for a slow reader; get() watches the body's progress itself.
   */
  private readonly reader: S3Client;

  constructor(private readonly dest: S3Destination, private readonly abortDeadlineMs = ABORT_DEADLINE_MS) {
    this.maxClockSkewMs = dest.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    this.stallTimeoutMs = dest.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.location = `s3://${dest.bucket}${dest.prefix ? `/${dest.prefix}` : ''}${dest.endpoint ? ` (${dest.endpoint})` : ''}`;
    const config = {
      region: dest.region,
      endpoint: dest.endpoint,
      forcePathStyle: dest.forcePathStyle,
      // S3-compatible servers reject or mangle the newer flexible checksums (see DESIGN.md).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    } as const;
    // Without timeouts a silently dropped connection or a frozen server hangs the run until the
    // Job deadline. A request whose socket moves no byte for the stall timeout fails (and is
    // retried by the SDK); so does every transfer of put(), which are requests of their own.
    this.client = new S3Client({
      ...config, requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000, socketTimeout: this.stallTimeoutMs },
    });
    this.reader = new S3Client({ ...config, requestHandler: { connectionTimeout: 10_000 } });
  }

  seriesPrefix(name: string): string {
    return `${this.dest.prefix ? `${this.dest.prefix}/` : ''}${name}/`;
  }

  async preflight(signal: AbortSignal): Promise<ClockReading> {
    const command = new ListObjectsV2Command({ Bucket: this.dest.bucket, MaxKeys: 1 });
    let reading: ClockReading | undefined;
    // Runs once per attempt, inside the SDK's retries: the reading is the successful attempt's.
    command.middlewareStack.add(next => async args => {
      const sent = Date.now();
      const out = await next(args);
      const date = (out.response as { headers?: Record<string, string | undefined> }).headers?.date;
      const storage = date ? new Date(date) : undefined;
      if (storage && !Number.isNaN(storage.getTime())) reading = { storage, local: new Date((sent + Date.now()) / 2) };
      return out;
    }, { step: 'deserialize', name: 'readStorageClock' });
    try {
      await this.client.send(command, { abortSignal: signal });
    } catch (err) {
      throw new Error(`cannot reach bucket s3://${this.dest.bucket}${this.dest.endpoint ? ` at ${this.dest.endpoint}` : ''}: ${s3Cause(err)}`, { cause: err });
    }
    if (!reading) throw new Error(`s3://${this.dest.bucket}${this.dest.endpoint ? ` at ${this.dest.endpoint}` : ''} sent no valid Date header, so the pod's clock cannot be checked against the storage's`);
    return reading;
  }

  async put(key: string, body: Readable, options: PutOptions, signal: AbortSignal): Promise<StoredObject> {
    try {
      signal.throwIfAborted();
      if (await this.stat(key, signal)) throw new ObjectExistsError(this.url(key));
    } catch (err) {
      // An unread body would leave its producer blocked on a full pipe.
      body.destroy();
      if (err instanceof ObjectExistsError) throw err;
      throw new Error(`upload to ${this.url(key)} failed`, { cause: signal.aborted ? signal.reason : this.stallOr(err) });
    }
    try {
      await this.upload(key, body, options, signal);
    } catch (err) {
      body.destroy();
      // Confirmed with a listing: the abort sent after the failure may itself have failed.
      const left = await this.abortOpenUploads(key);
      const suffix = left.length > 0
        ? `; multipart upload ${left.join(', ')} could not be aborted and is left open (a bucket lifecycle rule AbortIncompleteMultipartUpload removes it)`
        : '';
      if (isPreconditionFailed(err) && left.length === 0) throw new ObjectExistsError(this.url(key));
      throw new Error(`upload to ${this.url(key)} failed${suffix}`, { cause: signal.aborted ? signal.reason : this.stallOr(err) });
    }
    // The object is committed: report it even if the signal aborts now.
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.dest.bucket, Key: key }));
    return { key, bytes: head.ContentLength ?? -1, modified: wholeSeconds(head.LastModified) };
  }

  /**
   * Stores `body` at `key`: one PutObject if it fits in a part, else a multipart upload. Bytes are
   * copied into part buffers that are reused (at most QUEUE_SIZE in flight plus one being filled),
   * so memory stays flat and a part makes no garbage; reading waits while QUEUE_SIZE parts are in
   * flight. Rejects with the first failure only once no part request is left in flight; the caller
   * then aborts the upload and confirms it is gone.
   */
  private async upload(key: string, body: Readable, options: PutOptions, signal: AbortSignal): Promise<void> {
    const partSize = partSizeFor(options.sizeHint);
    const target = { Bucket: this.dest.bucket, Key: key };
    // The first failure (a part, the body, the signal) stops the part requests in flight and the
    // body at once, instead of after their transfers.
    const stop = new AbortController();
    const stopped = AbortSignal.any([signal, stop.signal]);
    let failure: { err: unknown } | undefined;
    const fail = (err: unknown) => {
      failure ??= { err };
      stop.abort(err);
    };
    const free: Buffer[] = [];
    const inFlight = new Set<Promise<void>>();
    const parts: CompletedPart[] = [];
    let uploadId: string | undefined;
    let sent = 0;
    let buffer: Buffer | undefined;
    let filled = 0;

    const send = (part: Buffer, length: number, id: string) => {
      const number = ++sent;
      if (number > MAX_PARTS) {
        throw new Error(`the backup outgrew S3's ${MAX_PARTS} parts of ${partSize / (1024 * 1024)} MiB: the database's size estimate was too low for the part size`);
      }
      const command = unsignedPayload(new UploadPartCommand({
        ...target, UploadId: id, PartNumber: number, Body: part.subarray(0, length), ContentLength: length,
      }));
      const request: Promise<void> = this.client.send(command, { abortSignal: stopped }).then(
        out => {
          if (!out.ETag) throw new Error(`S3 returned no ETag for part ${number}`);
          parts.push({ PartNumber: number, ETag: out.ETag });
          free.push(part);
        },
      ).catch(fail).finally(() => inFlight.delete(request));
      inFlight.add(request);
    };

    try {
      for await (const chunk of addAbortSignal(stopped, body) as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.length;) {
          if (buffer && filled === buffer.length) {
            // A full buffer with more bytes after it is a part. The upload is created here, not
            // earlier: a body that fits in one part goes up as one PutObject.
            // No signal on the create: an upload whose id the run never learns could not be aborted.
            uploadId ??= (await this.client.send(new CreateMultipartUploadCommand({
              ...target, ContentType: options.contentType, ...sseParams(this.dest),
            }))).UploadId!;
            send(buffer, filled, uploadId);
            buffer = undefined;
          }
          if (!buffer) {
            while (inFlight.size >= QUEUE_SIZE) await Promise.race(inFlight);
            if (failure) throw failure.err;
            buffer = free.pop() ?? Buffer.allocUnsafe(partSize);
            filled = 0;
          }
          const copied = chunk.copy(buffer, filled, offset);
          filled += copied;
          offset += copied;
        }
      }
      // The commit (the PutObject or the complete) is not cut off by the signal half-way: the
      // server may store the object after the client gave up on the request.
      // If-None-Match also guards it on servers that support conditional writes; the HEAD
      // before covers the others. Server-side encryption goes on the PutObject or the create;
      // parts inherit it.
      if (uploadId === undefined) {
        signal.throwIfAborted();
        await this.client.send(new PutObjectCommand({
          ...target,
          Body: buffer?.subarray(0, filled) ?? Buffer.alloc(0),
          ContentLength: filled,
          ContentType: options.contentType,
          IfNoneMatch: '*',
          ...sseParams(this.dest),
        }));
        return;
      }
      // Never empty: a buffer became a part only when more bytes followed it.
      send(buffer!, filled, uploadId);
      await Promise.all(inFlight);
      if (failure) throw failure.err;
      signal.throwIfAborted();
      parts.sort((x, y) => x.PartNumber! - y.PartNumber!);
      await this.client.send(new CompleteMultipartUploadCommand({ ...target, UploadId: uploadId, MultipartUpload: { Parts: parts }, IfNoneMatch: '*' }));
    } catch (err) {
      fail(err);
      // No part may land after the caller aborted the upload.
      await Promise.all(inFlight);
      throw failure!.err;
    }
  }

  async get(key: string, signal: AbortSignal): Promise<Readable> {
    // The response's headers must come within the stall timeout; the body is watched by guardStall.
    const headers = new AbortController();
    const timer = setTimeout(() => headers.abort(stallError(`reading ${this.url(key)}`, this.stallTimeoutMs)), this.stallTimeoutMs);
    try {
      const command = new GetObjectCommand({ Bucket: this.dest.bucket, Key: key });
      const out = await this.reader.send(command, { abortSignal: AbortSignal.any([signal, headers.signal]) });
      return addAbortSignal(signal, guardStall(out.Body as Readable, this.stallTimeoutMs, `reading ${this.url(key)}`));
    } catch (err) {
      if (headers.signal.aborted && !signal.aborted) throw headers.signal.reason;
      throw new Error(`cannot read ${this.url(key)}: ${s3Cause(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async stat(key: string, signal: AbortSignal): Promise<StoredObject | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.dest.bucket, Key: key }), { abortSignal: signal });
      return { key, bytes: head.ContentLength ?? -1, modified: wholeSeconds(head.LastModified) };
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw new Error(`cannot check ${this.url(key)}: ${s3Cause(err)}`, { cause: err });
    }
  }

  async list(prefix: string, signal: AbortSignal): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const page: ListObjectsV2CommandOutput = await this.client.send(new ListObjectsV2Command({
          Bucket: this.dest.bucket, Prefix: prefix, ContinuationToken: token,
        }), { abortSignal: signal });
        for (const o of page.Contents ?? []) out.push({ key: o.Key!, bytes: o.Size ?? 0, modified: wholeSeconds(o.LastModified) });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw new Error(`cannot list ${this.url(prefix)}: ${s3Cause(err)}`, { cause: err });
    }
    return out;
  }

  async delete(key: string, signal: AbortSignal): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.dest.bucket, Key: key }), { abortSignal: signal });
    } catch (err) {
      throw new Error(`cannot delete ${this.url(key)}: ${s3Cause(err)}`, { cause: err });
    }
  }

  async listUnfinished(prefix: string, signal: AbortSignal): Promise<Unfinished[]> {
    try {
      return (await this.openUploads(prefix, signal)).map(u => ({ key: u.key, started: u.initiated ?? new Date(0), handle: u.uploadId }));
    } catch (err) {
      throw new Error(`cannot list the multipart uploads under ${this.url(prefix)}: ${s3Cause(err)}`, { cause: err });
    }
  }

  async removeUnfinished(unfinished: Unfinished, signal: AbortSignal): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({
        Bucket: this.dest.bucket, Key: unfinished.key, UploadId: unfinished.handle,
      }), { abortSignal: signal });
    } catch (err) {
      // Already gone (aborted or completed by someone else): nothing is left to remove.
      if ((err as { name?: string }).name === 'NoSuchUpload') return;
      throw new Error(`cannot abort the multipart upload ${unfinished.handle} of ${this.url(unfinished.key)}: ${s3Cause(err)}`, { cause: err });
    }
  }

  /**
   * Aborts every open multipart upload for exactly `key` until a listing shows none, retrying
   * through a flaky connection until the deadline. Returns the upload ids still open (empty:
   * verified). Takes no signal: it is the cleanup after an abort.
   */
  private async abortOpenUploads(key: string): Promise<string[]> {
    const deadline = Date.now() + this.abortDeadlineMs;
    // Each request is cut off at the deadline too: through a frozen server one could wait forever.
    const bounded = AbortSignal.timeout(this.abortDeadlineMs);
    let delay = 250;
    let open: string[] = ['(unknown: S3 unreachable)'];
    for (;;) {
      try {
        const uploads = (await this.openUploads(key, bounded)).filter(u => u.key === key);
        open = uploads.map(u => u.uploadId);
        if (uploads.length === 0) return [];
        for (const u of uploads) {
          const abort = new AbortMultipartUploadCommand({ Bucket: this.dest.bucket, Key: key, UploadId: u.uploadId });
          await this.client.send(abort, { abortSignal: bounded });
        }
      } catch {
        // S3 may be briefly unreachable: that is often why the upload failed. Try again.
      }
      if (bounded.aborted || Date.now() + delay > deadline) return open;
      await new Promise(r => setTimeout(r, delay));
      delay = Math.min(delay * 2, 4_000);
    }
  }

  private async openUploads(prefix: string, signal: AbortSignal): Promise<Array<{ key: string; uploadId: string; initiated?: Date }>> {
    const out: Array<{ key: string; uploadId: string; initiated?: Date }> = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page: ListMultipartUploadsCommandOutput = await this.client.send(new ListMultipartUploadsCommand({
        Bucket: this.dest.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker,
      }), { abortSignal: signal });
      for (const u of page.Uploads ?? []) out.push({ key: u.Key!, uploadId: u.UploadId!, initiated: u.Initiated });
      if (!page.IsTruncated) return out;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  private url(key: string): string {
    return `s3://${this.dest.bucket}/${key}`;
  }

  /** A request's socket timeout (no byte moved for the stall timeout) as a StallError; other errors as they are. */
  private stallOr(err: unknown): unknown {
    const e = err as { name?: string; message?: string };
    return e?.name === 'TimeoutError' && /of inactivity/.test(e.message ?? '') ? stallError('the transfer', this.stallTimeoutMs) : err;
  }
}

/**
 * `command` sent with `x-amz-content-sha256: UNSIGNED-PAYLOAD`: without it the SDK hashes every
 * part's bytes once more for the SigV4 signature (1.2 CPU-seconds per 555 MB stored, measured). The
 * runner's own sha256 over every stored byte, recorded in the manifest and checked on every
 * restore and verify, covers the object end to end; the signature still covers the request.
 */
function unsignedPayload(command: UploadPartCommand): UploadPartCommand {
  command.middlewareStack.add(next => async args => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    return next(args);
  }, { step: 'build', name: 'unsignedPayload' });
  return command;
}

/**
 * The request parameters of the destination's server-side encryption (BACKUP_S3_SSE): sent on every
 * upload the runner makes (data, manifests, verify results), so no object depends on the bucket's
 * default encryption alone.
 */
export function sseParams(dest: Pick<S3Destination, 'serverSideEncryption'>): { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string } {
  const sse = dest.serverSideEncryption;
  if (!sse) return {};
  if (sse.type === 'AES256') return { ServerSideEncryption: 'AES256' };
  return sse.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: sse.kmsKeyId } : { ServerSideEncryption: 'aws:kms' };
}

/**
 * Listings give milliseconds, HEAD's Last-Modified header only seconds: both are cut to the second,
 * so stat and list agree on an object's time.
 */
function wholeSeconds(t: Date | undefined): Date {
  return new Date(Math.floor((t?.getTime() ?? 0) / 1000) * 1000);
}

/** If-None-Match found an object written since the HEAD check. */
function isPreconditionFailed(err: unknown): boolean {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412;
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
