/**
 * Offline checks of synthesized PrometheusRule objects: the vendored prometheus-operator CRD
 * schema (test/fixtures/prometheus-operator, validated with ajv) made strict about unknown
 * fields, plus the Kubernetes metadata rules the API server enforces.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ValidateFunction } from 'ajv';
import { Chart, Testing } from 'cdk8s';

const SCHEMA_FILE = path.join(__dirname, '..', 'fixtures', 'prometheus-operator', 'prometheusrule-v1.schema.json');

/**
 * The CRD's schema with `additionalProperties: false` on every object that lists its properties:
 * the API server prunes unknown fields silently, so a misspelt field would be lost; here it fails.
 * Go's `(?i)` flag (partial_response_strategy's pattern) is not JavaScript: dropped.
 */
function strictSchema(node: any): any {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: any = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = key === 'properties'
      ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, strictSchema(v)]))
      : strictSchema(value);
  }
  if (typeof out.pattern === 'string') out.pattern = out.pattern.replace(/^\^\(\?i\)/, '^');
  if (out.type === 'object' && out.properties !== undefined && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

let validator: ValidateFunction | undefined;

function schemaValidator(): ValidateFunction {
  if (!validator) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    for (const keyword of ['x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-preserve-unknown-fields']) {
      ajv.addKeyword(keyword);
    }
    // Formats of the read-only status, which a synthesized object never has.
    ajv.addFormat('date-time', true);
    ajv.addFormat('int64', true);
    validator = ajv.compile(strictSchema(JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'))));
  }
  return validator;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** What is wrong with a PrometheusRule object (schema and metadata); empty when valid. */
export function prometheusRuleErrors(obj: any): string[] {
  const errors: string[] = [];
  const validate = schemaValidator();
  if (!validate(obj)) {
    errors.push(...(validate.errors ?? []).map(e => `${e.instancePath || '/'} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`));
  }
  if (obj?.apiVersion !== 'monitoring.coreos.com/v1') errors.push(`apiVersion is ${obj?.apiVersion}`);
  if (obj?.kind !== 'PrometheusRule') errors.push(`kind is ${obj?.kind}`);
  const meta = obj?.metadata ?? {};
  if (typeof meta.name !== 'string' || meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) errors.push(`metadata.name '${meta.name}' is not a DNS subdomain`);
  if (typeof meta.namespace !== 'string' || meta.namespace.length > 63 || !DNS_LABEL.test(meta.namespace)) errors.push(`metadata.namespace '${meta.namespace}' is not a DNS label`);
  for (const [key, value] of Object.entries(meta.labels ?? {})) {
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = key.slice(slash + 1);
    if ((prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) || name.length > 63 || !LABEL_NAME.test(name)) {
      errors.push(`metadata.labels: bad key '${key}'`);
    }
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) errors.push(`metadata.labels['${key}']: bad value '${value}'`);
  }
  return errors;
}

/** Throws with every error when the object is not a valid PrometheusRule. */
export function validatePrometheusRule(obj: any): void {
  const errors = prometheusRuleErrors(obj);
  if (errors.length > 0) throw new Error(`invalid PrometheusRule ${obj?.metadata?.name}:\n${errors.join('\n')}`);
}

/** A chart with a namespace, as the alerts need. */
export function namespacedChart(namespace = 'databases'): Chart {
  return new Chart(Testing.app(), 'test', { namespace });
}

/** The synthesized PrometheusRule objects of a chart, each validated. */
export function prometheusRules(chart: Chart): any[] {
  const rules = Testing.synth(chart).filter(o => o.kind === 'PrometheusRule');
  rules.forEach(validatePrometheusRule);
  return rules;
}

/** A rule of a synthesized PrometheusRule, by alert name. */
export function ruleOf(prometheusRule: any, alert: string): any {
  const rule = prometheusRule.spec.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === alert);
  if (!rule) throw new Error(`no rule ${alert} in ${prometheusRule.metadata.name}`);
  return rule;
}

/** The alert names of a synthesized PrometheusRule. */
export function alertNames(prometheusRule: any): string[] {
  return prometheusRule.spec.groups.flatMap((g: any) => g.rules).map((r: any) => r.alert);
}
