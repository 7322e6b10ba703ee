import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ageRecipients, recipientsToText } from './age';
import { ENV, IMAGE } from './contract';
import { RuleError } from './rules';
import { BoundSeries } from './series';
import { dataKey, secretValueProp } from './validation';

/** Options for `BackupEncryption.age()`. */
export interface AgeEncryptionOptions {
  /**
   * The public keys the backups are encrypted to; any one of their identities decrypts. Each is
   * an age X25519 recipient (`age1…`, as `age-keygen` prints it) or an SSH public key line
   * (`ssh-ed25519 AAAA… [comment]`, or `ssh-rsa AAAA…` of at least 2048 bits). Public keys are not
   * secrets: they are written into the CronJob as plain text. Give two while rotating keys (the
   * old and the new one). Never a private key (`AGE-SECRET-KEY-1…`): that is refused.
   */
  readonly recipients: string[];
}

/**
 * Client-side encryption of every backup of a series, with age (https://age-encryption.org):
 * the backup pod encrypts the compressed stream to public keys only, so it can write backups it
 * cannot read back, and neither can anyone with the bucket. The stored object is a standard age
 * file (`age -d -i key.txt` decrypts it).
 */
export class BackupEncryption {
  /**
   * Encrypt to age recipients (public keys). The matching identities decrypt; give one to the
   * restore and verify constructs with `BackupDecryption.ageIdentity()`.
   *
   * @example BackupEncryption.age({ recipients: ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'] })
   */
  public static age(options: AgeEncryptionOptions): BackupEncryption {
    if (options === undefined || options === null || typeof options !== 'object') {
      throw new RuleError("recipients: must be set, e.g. BackupEncryption.age({ recipients: ['age1…'] }).");
    }
    return new BackupEncryption(ageRecipients('recipients', options.recipients));
  }

  private constructor(private readonly recipients: readonly string[]) {}

  /** The recipients, checked and canonical. @internal */
  public get _recipients(): readonly string[] {
    return this.recipients;
  }

  /** The backup pod's variables. @internal */
  public _env(): Record<string, kplus.EnvValue> {
    return { [ENV.AGE_RECIPIENTS]: kplus.EnvValue.fromValue(recipientsToText(this.recipients)) };
  }
}

/** Where the runner of a restore or verify pod finds the identity. @internal */
export const AGE_IDENTITY_PATH = `${IMAGE.AGE_IDENTITY_DIR}/${IMAGE.AGE_IDENTITY_FILE_NAME}`;

/*
 * The identity file's mode. With the pod's fsGroup (IMAGE.GID), the kubelet makes a Secret
 * volume's files group-owned by it and adds group read to their mode anyway (a Secret volume is
 * read-only, so it ORs 0440), which is how the runner (uid 10001, gid 10001) reads a file owned by
 * root. 0440 is therefore what the file gets: say so, rather than 0400 that silently becomes 0440.
 * No one else in the pod can read it: the verify pod's database server runs with another uid and
 * gid and does not mount the volume.
 */
const IDENTITY_FILE_MODE = 0o440;

/**
 * The private key that decrypts encrypted backups, for restore and verify constructs only: it is
 * mounted read-only into their runner container and never reaches a backup pod.
 */
export class BackupDecryption {
  /**
   * An age identity file (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes it; several lines
   * for several keys while rotating) stored under `key` in a Secret. Only that key is projected
   * into the pod, as a read-only file.
   *
   * @param identity the Secret and its key, e.g. `{ secret: kplus.Secret.fromSecretName(this, 'Age', 'backup-age'), key: 'identity.txt' }`
   */
  public static ageIdentity(identity: kplus.SecretValue): BackupDecryption {
    const checked = secretValueProp('decryption', identity);
    dataKey('decryption.key', checked.key);
    return new BackupDecryption(checked.secret, checked.key);
  }

  private constructor(private readonly secret: kplus.ISecret, private readonly key: string) {}

  /** The read-only volume holding the identity file, created in `scope`. @internal */
  public _volume(scope: Construct): kplus.Volume {
    return kplus.Volume.fromSecret(scope, 'AgeIdentity', this.secret, {
      name: 'age-identity',
      items: { [this.key]: { path: IMAGE.AGE_IDENTITY_FILE_NAME, mode: IDENTITY_FILE_MODE } },
    });
  }
}

/**
 * The `decryption` prop of a restore or verify construct, checked against the series: a series
 * whose backup construct in this app encrypts cannot be read without one. @internal
 */
export function decryptionProp(value: BackupDecryption | undefined, series: BoundSeries, consumer: string): BackupDecryption | undefined {
  if (value === undefined || value === null) {
    if (series.encrypted === true) {
      const writer = series.writer === undefined ? '' : ` (${series.writer} has encryption: BackupEncryption.age(…))`;
      throw new RuleError(`decryption: the series '${series.backupName}' is encrypted${writer}, so a ${consumer} cannot read it without the identity. Give decryption: BackupDecryption.ageIdentity({ secret, key }) with the Secret holding its AGE-SECRET-KEY-1… file.`);
    }
    return undefined;
  }
  if (!(value instanceof BackupDecryption)) {
    throw new RuleError('decryption: expected a BackupDecryption, e.g. decryption: BackupDecryption.ageIdentity({ secret, key }).');
  }
  return value;
}

/**
 * Mounts the identity read-only into the runner container (the workload's first container, never
 * a sidecar) and points BACKUP_AGE_IDENTITY_FILE at it. @internal
 */
export function mountIdentity(scope: Construct, workload: kplus.Job | kplus.CronJob, decryption: BackupDecryption): void {
  const runner = workload.containers[0];
  runner.mount(IMAGE.AGE_IDENTITY_DIR, decryption._volume(scope), { readOnly: true });
  runner.env.addVariable(ENV.AGE_IDENTITY_FILE, kplus.EnvValue.fromValue(AGE_IDENTITY_PATH));
}
