/**
 * Offline checks of synthesized manifests: the Kubernetes 1.27 OpenAPI schemas (kubernetes-models)
 * and the Pod Security Standards "restricted" profile.
 */

/** Validates one object against its Kubernetes schema; throws with the schema errors. */
export function validateSchema(obj: any): void {
  if (typeof obj?.apiVersion !== 'string' || typeof obj?.kind !== 'string') {
    throw new Error(`not a Kubernetes object: ${JSON.stringify(obj).slice(0, 200)}`);
  }
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [undefined, obj.apiVersion];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(`kubernetes-models/${group ? group + '/' : ''}${version}/${obj.kind}`);
  const Model = mod[obj.kind] ?? mod.default;
  new Model(obj).validate();
}

const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret',
]);

/** The pod template spec inside a CronJob, Job or Pod. */
export function podSpecOf(obj: any): any {
  switch (obj.kind) {
    case 'CronJob': return obj.spec.jobTemplate.spec.template.spec;
    case 'Job': return obj.spec.template.spec;
    case 'Pod': return obj.spec;
    default: throw new Error(`no pod spec in a ${obj.kind}`);
  }
}

/**
 * Violations of the Pod Security Standards "restricted" profile (which includes "baseline"),
 * checked the way the PodSecurity admission controller checks them. Empty means it passes.
 */
export function restrictedViolations(spec: any): string[] {
  const out: string[] = [];
  const podSc = spec.securityContext ?? {};
  const containers: any[] = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('host namespaces');
  for (const v of spec.volumes ?? []) {
    const type = Object.keys(v).find(k => k !== 'name');
    if (!type || !RESTRICTED_VOLUME_TYPES.has(type)) out.push(`volume ${v.name} has type ${type}`);
  }
  const podSeccomp = podSc.seccompProfile?.type;
  if (podSeccomp !== undefined && !['RuntimeDefault', 'Localhost'].includes(podSeccomp)) out.push(`pod seccomp ${podSeccomp}`);
  if (podSc.runAsUser === 0) out.push('pod runAsUser 0');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const name = `container ${c.name}`;
    if (sc.privileged) out.push(`${name} privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${name} allowPrivilegeEscalation != false`);
    const runAsNonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
    if (runAsNonRoot !== true) out.push(`${name} runAsNonRoot != true`);
    if (sc.runAsUser === 0) out.push(`${name} runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) out.push(`${name} seccompProfile ${seccomp}`);
    const drop: string[] = sc.capabilities?.drop ?? [];
    if (!drop.includes('ALL')) out.push(`${name} does not drop ALL capabilities`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE') out.push(`${name} adds capability ${cap}`);
    }
    for (const p of c.ports ?? []) {
      if (p.hostPort) out.push(`${name} hostPort ${p.hostPort}`);
    }
    if (sc.procMount && sc.procMount !== 'Default') out.push(`${name} procMount ${sc.procMount}`);
  }
  return out;
}
