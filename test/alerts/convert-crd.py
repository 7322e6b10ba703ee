#!/usr/bin/env python3
"""Extracts the v1 openAPIV3Schema of the vendored PrometheusRule CRD as JSON (the tests have no YAML
parser). Run from the repository root after updating the YAML:
  python3 test/alerts/convert-crd.py
"""
import json
import pathlib

import yaml

DIR = pathlib.Path(__file__).resolve().parent.parent / 'fixtures' / 'prometheus-operator'
crd = yaml.safe_load((DIR / 'monitoring.coreos.com_prometheusrules.yaml').read_text())
version = next(v for v in crd['spec']['versions'] if v['name'] == 'v1')
schema = version['schema']['openAPIV3Schema']
out = DIR / 'prometheusrule-v1.schema.json'
out.write_text(json.dumps(schema, indent=2, sort_keys=True) + '\n')
print(f'wrote {out}')
