/**
 * App-wide image settings: a registry that every default image of this library is pulled from, and
 * image pull secrets, for every construct below a scope (air-gapped clusters, private mirrors).
 */
import * as kplus from 'cdk8s-plus-27';
import { IConstruct } from 'constructs';
import { RuleError } from './rules';

/** Options of `BackupDefaults.useRegistry()`. */
export interface UseRegistryOptions {
  /**
   * Secrets of type `kubernetes.io/dockerconfigjson` the pods pull their images with, in the
   * namespace the pods run in. Same as calling `addImagePullSecret()` for each.
   * @default - none added
   */
  readonly imagePullSecrets?: kplus.ISecret[];
}

/** An image the pods of this library's constructs pull. */
export interface BackupImage {
  /** The reference in the pod spec. */
  readonly image: string;
  /**
   * Where the image comes from: for a library default mapped to a registry, its reference on its
   * origin registry with the registry named (`docker.io/library/postgres:17.8`), the image to copy
   * into the mirror; for an image a construct's prop gave, the same as `image`.
   */
  readonly origin: string;
}

// The settings made on each scope, and what each construct used when it was created.
const SETTINGS = new WeakMap<IConstruct, ScopeSettings>();
const CONSUMERS = new WeakMap<IConstruct, Consumer>();

interface ScopeSettings {
  registry?: string;
  readonly pullSecrets: string[];
}

/** What one construct resolved when it was created: compared again when a scope above it changes. */
interface Consumer {
  /** The registry its default images were mapped to; absent when it used no default image. */
  registry?: { readonly value: string | undefined };
  /** The pull secret names its pods got; absent until its pod spec asked. */
  pullSecrets?: readonly string[];
  /** Pulled image -> origin. */
  readonly images: Map<string, string>;
}

/**
 * Defaults for every construct of this library below a scope (an App, a Chart or any construct):
 * the registry their default images are pulled from, and image pull secrets. Backups, restores,
 * verifications (their throwaway database servers included) and checks all follow it.
 *
 * ```ts
 * BackupDefaults.of(app).useRegistry('registry.example.com/mirror', {
 *   imagePullSecrets: [kplus.Secret.fromSecretName(chart, 'Pull', 'mirror-pull')],
 * });
 * ```
 *
 * A default image keeps its path on its origin registry and its tag: the companion image
 * `ghcr.io/cdk8s-db-backup/cdk8s-db-backup:<tag>` becomes `<registry>/cdk8s-db-backup/cdk8s-db-backup:<tag>`,
 * and Docker Hub's `postgres:17.8` (`docker.io/library/postgres:17.8`) becomes
 * `<registry>/library/postgres:17.8`, the layout mirroring tools and pull-through caches use. An image
 * given by a construct's own prop (`image`, `postgresImage`, `mysqlImage`, `redisImage`,
 * `mongoImage`) is used as given. The nearest scope that sets the registry wins, and separately the
 * nearest scope that adds pull secrets. Call it before creating the constructs it should apply to:
 * a call that would change a construct created earlier throws.
 */
export class BackupDefaults {
  /** The defaults of `scope`, applied to every construct of this library below it. */
  public static of(scope: IConstruct): BackupDefaults {
    return new BackupDefaults(constructArg('BackupDefaults.of(scope)', scope));
  }

  /**
   * The images the pods of this library's constructs below `scope` pull (the constructs created
   * so far), sorted: what an air-gapped cluster's registry must hold.
   */
  public static imagesOf(scope: IConstruct): BackupImage[] {
    const images = new Map<string, string>();
    for (const node of constructArg('BackupDefaults.imagesOf(scope)', scope).node.findAll()) {
      for (const [image, origin] of CONSUMERS.get(node)?.images ?? []) images.set(image, origin);
    }
    return [...images].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([image, origin]) => ({ image, origin }));
  }

  private constructor(private readonly scope: IConstruct) {}

  /**
   * Pull every default image of this library from `registry` (a host, with an optional port
   * and path: `registry.example.com/mirror`, `mirror.internal:5000`), which keeps each image's
   * path on its origin registry and its tag.
   */
  public useRegistry(registry: string, options: UseRegistryOptions = {}): void {
    const field = `${this.call}.useRegistry(registry)`;
    const value = registryProp(field, registry);
    const current = this.settings.registry;
    if (current !== undefined && current !== value) {
      throw new RuleError(`${field}: '${value}' differs from '${current}', set on this scope before; a scope has one registry. Call it once, or call BackupDefaults.of() on a nearer scope for the constructs that pull from another.`);
    }
    const secrets = options?.imagePullSecrets ?? [];
    if (!Array.isArray(secrets)) {
      throw new RuleError(`${this.call}.useRegistry(registry, { imagePullSecrets }): expected a list of Secrets, e.g. [kplus.Secret.fromSecretName(chart, 'Pull', 'registry-pull')].`);
    }
    const names = secrets.map((s, i) => secretName(`${this.call}.useRegistry(registry, { imagePullSecrets[${i}] })`, s));
    this.change(settings => {
      settings.registry = value;
      addNames(settings, names);
    });
  }

  /**
   * Pull the images of every pod below this scope with `secret` too (a Secret of type
   * `kubernetes.io/dockerconfigjson` in the pods' namespace), e.g.
   * `kplus.Secret.fromSecretName(chart, 'Pull', 'registry-pull')`.
   */
  public addImagePullSecret(secret: kplus.ISecret): void {
    const name = secretName(`${this.call}.addImagePullSecret(secret)`, secret);
    this.change(settings => addNames(settings, [name]));
  }

  /** How the user called it, for messages. */
  private get call(): string {
    return `BackupDefaults.of(${this.scope.node.path === '' ? 'app' : this.scope.node.path})`;
  }

  private get settings(): ScopeSettings {
    let settings = SETTINGS.get(this.scope);
    if (!settings) {
      settings = { pullSecrets: [] };
      SETTINGS.set(this.scope, settings);
    }
    return settings;
  }

  /**
   * Applies `update`, then undoes it and throws when a construct already created below this
   * scope would now resolve differently: its manifests would silently miss the setting.
   */
  private change(update: (settings: ScopeSettings) => void): void {
    const settings = this.settings;
    const before = { registry: settings.registry, pullSecrets: [...settings.pullSecrets] };
    update(settings);
    for (const node of this.scope.node.findAll()) {
      const consumer = CONSUMERS.get(node);
      if (!consumer) continue;
      const registryChanged = consumer.registry !== undefined && consumer.registry.value !== registryAt(node);
      const secretsChanged = consumer.pullSecrets !== undefined && consumer.pullSecrets.join(',') !== pullSecretsAt(node).join(',');
      if (registryChanged || secretsChanged) {
        settings.registry = before.registry;
        settings.pullSecrets.splice(0, settings.pullSecrets.length, ...before.pullSecrets);
        throw new RuleError(`${this.call}: ${node.node.path} was created before this call and would miss its ${registryChanged ? 'registry' : 'image pull secrets'}; call BackupDefaults.of(scope).useRegistry() and addImagePullSecret() before creating constructs below that scope.`);
      }
    }
  }
}

function constructArg(field: string, scope: IConstruct): IConstruct {
  if (scope === undefined || scope === null || typeof (scope as Partial<IConstruct>).node?.path !== 'string') {
    throw new RuleError(`${field}: expected a construct (an App, a Chart or a construct in one).`);
  }
  return scope;
}

function addNames(settings: ScopeSettings, names: string[]): void {
  for (const name of names) {
    if (!settings.pullSecrets.includes(name)) settings.pullSecrets.push(name);
  }
}

/** The nearest scope's setting, from `node` up. */
function nearest<T>(node: IConstruct, read: (settings: ScopeSettings) => T | undefined): T | undefined {
  const scopes = node.node.scopes;
  for (let i = scopes.length - 1; i >= 0; i--) {
    const settings = SETTINGS.get(scopes[i]);
    const value = settings && read(settings);
    if (value !== undefined) return value;
  }
  return undefined;
}

function registryAt(node: IConstruct): string | undefined {
  return nearest(node, s => s.registry);
}

function pullSecretsAt(node: IConstruct): readonly string[] {
  return nearest(node, s => (s.pullSecrets.length > 0 ? s.pullSecrets : undefined)) ?? [];
}

function consumerOf(node: IConstruct): Consumer {
  let consumer = CONSUMERS.get(node);
  if (!consumer) {
    consumer = { images: new Map() };
    CONSUMERS.set(node, consumer);
  }
  return consumer;
}

/**
 * The image a pod of `consumer` pulls: `given` (a construct's own image prop) when set, otherwise
 * the library's default (`libraryDefault()`) mapped to the registry in effect at `consumer`.
 * Recorded for `imagesOf()` and for the check of later `useRegistry()` calls. @internal
 */
export function imageAt(consumer: IConstruct, given: string | undefined, libraryDefault: () => string): string {
  const record = consumerOf(consumer);
  // `??` semantics, as the props had before: null (from JavaScript) is unset too.
  if (given !== undefined && given !== null) {
    record.images.set(given, given);
    return given;
  }
  const registry = registryAt(consumer);
  record.registry = { value: registry };
  const fallback = libraryDefault();
  const origin = parseReference(fallback);
  const image = registry === undefined ? fallback : `${registry}/${origin.path}${origin.suffix}`;
  record.images.set(image, `${origin.host}/${origin.path}${origin.suffix}`);
  return image;
}

/** The image pull secret names in effect at `consumer`, recorded for the check of later calls. @internal */
export function imagePullSecretsAt(consumer: IConstruct): string[] {
  const names = [...pullSecretsAt(consumer)];
  consumerOf(consumer).pullSecrets = names;
  return names;
}

/**
 * An image reference split the way a container runtime reads it: a first component with a dot or
 * a port (or `localhost`) is a registry host, otherwise the image is on Docker Hub, where a
 * single-component name is an official image under `library/`.
 */
function parseReference(image: string): { host: string; path: string; suffix: string } {
  const at = image.indexOf('@');
  const named = at < 0 ? image : image.slice(0, at);
  const colon = named.lastIndexOf(':');
  const nameEnd = colon > named.lastIndexOf('/') ? colon : named.length;
  const parts = named.slice(0, nameEnd).split('/');
  let host = 'docker.io';
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost')) host = parts.shift()!;
  if (host === 'index.docker.io') host = 'docker.io';
  if (host === 'docker.io' && parts.length === 1) parts.unshift('library');
  return { host, path: parts.join('/'), suffix: image.slice(nameEnd) };
}

const HOST = /^(localhost|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:[0-9]+)?$/;
const PATH_COMPONENT = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$/;

/**
 * A registry as `useRegistry()` takes it: a host (with a dot or a port, or `localhost`), an
 * optional port and an optional path, and nothing else a container runtime would read (a scheme,
 * a tag, a digest, a trailing slash). image/build.sh --registry checks the same rules.
 */
function registryProp(field: string, value: string): string {
  const example = "e.g. 'registry.example.com/mirror'";
  if (typeof value !== 'string' || value.trim() === '') {
    throw new RuleError(`${field}: must be a registry host with an optional path, ${example}.`);
  }
  if (/\s/.test(value)) throw new RuleError(`${field}: '${value}' contains white space; give the registry host and path only, ${example}.`);
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value);
  if (scheme) {
    throw new RuleError(`${field}: '${value}' has a scheme; image references have none. Give '${value.slice(scheme[0].length)}'.`);
  }
  if (value.endsWith('/')) throw new RuleError(`${field}: '${value}' ends with '/'; give it without: '${value.replace(/\/+$/, '')}'.`);
  if (value.includes('@')) {
    throw new RuleError(`${field}: '${value}' has a digest; give the registry and path only (each image keeps its own tag and digest): '${value.slice(0, value.indexOf('@'))}'.`);
  }
  // A colon is a port in the host and a tag anywhere else.
  const [host, ...path] = value.split('/');
  const untagged = [host.replace(/:(?![0-9]+$).*$/, ''), ...path.map(p => p.replace(/:.*$/, ''))].join('/');
  if (untagged !== value) {
    throw new RuleError(`${field}: '${value}' has a tag; give the registry and path only (each image keeps its own tag): '${untagged}'.`);
  }
  if (value !== value.toLowerCase()) {
    throw new RuleError(`${field}: '${value}' has uppercase letters, which image references do not allow; give '${value.toLowerCase()}'.`);
  }
  if (!HOST.test(host)) throw new RuleError(`${field}: '${host}' is not a registry host name with an optional port, ${example}.`);
  if (!/[.:]/.test(host) && host !== 'localhost') {
    const rest = path.length > 0 ? `/${path.join('/')}` : '';
    throw new RuleError(`${field}: '${host}' has no dot and no port, so a container runtime would read '${value}/…' as a path on Docker Hub, not as a registry; give the host with its domain or port, e.g. '${host}.example.com${rest}' or '${host}:5000${rest}'.`);
  }
  const bad = path.find(p => !PATH_COMPONENT.test(p));
  if (bad !== undefined) {
    throw new RuleError(`${field}: '${value}' has the path component '${bad}'; each must be lowercase letters and digits separated by '.', '_', '__' or '-', ${example}.`);
  }
  return value;
}

function secretName(field: string, secret: kplus.ISecret): string {
  const name = (secret as { name?: unknown } | undefined)?.name;
  if (typeof name !== 'string' || name === '') {
    throw new RuleError(`${field}: expected a Secret, e.g. kplus.Secret.fromSecretName(chart, 'Pull', 'registry-pull').`);
  }
  return name;
}
