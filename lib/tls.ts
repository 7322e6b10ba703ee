import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { IMAGE } from './contract';
import { dataKey } from './validation';

/** Where the runner container finds a `TlsCertificate`. @internal */
export const CA_FILE_PATH = `${IMAGE.TLS_CA_DIR}/${IMAGE.TLS_CA_FILE_NAME}`;

/**
 * A PEM CA certificate (or bundle) that verifies the database server's certificate. It is mounted
 * read-only into the runner container and the engine's client is pointed at it; only the one key
 * is projected, so nothing else in the Secret or ConfigMap reaches the pod.
 */
export class TlsCertificate {
  /**
   * The certificate stored under `key` in a Secret, e.g. the `ca.crt` key cert-manager writes.
   *
   * @param secret the Secret that holds the certificate
   * @param key the key of the certificate in the Secret, e.g. `ca.crt`
   */
  public static fromSecret(secret: kplus.ISecret, key: string): TlsCertificate {
    dataKey('key', key);
    return new TlsCertificate((scope, name) => kplus.Volume.fromSecret(scope, 'TlsCa', secret, {
      name, items: { [key]: { path: IMAGE.TLS_CA_FILE_NAME } },
    }));
  }

  /**
   * The certificate stored under `key` in a ConfigMap, e.g. a trust bundle distributed by
   * trust-manager.
   *
   * @param configMap the ConfigMap that holds the certificate
   * @param key the key of the certificate in the ConfigMap, e.g. `ca.crt`
   */
  public static fromConfigMap(configMap: kplus.IConfigMap, key: string): TlsCertificate {
    dataKey('key', key);
    return new TlsCertificate((scope, name) => kplus.Volume.fromConfigMap(scope, 'TlsCa', configMap, {
      name, items: { [key]: { path: IMAGE.TLS_CA_FILE_NAME } },
    }));
  }

  private constructor(private readonly volumeIn: (scope: Construct, name: string) => kplus.Volume) {}

  /** The volume to mount at IMAGE.TLS_CA_DIR, created in `scope`. @internal */
  public _bind(scope: Construct): kplus.Volume {
    return this.volumeIn(scope, 'tls-ca');
  }
}
