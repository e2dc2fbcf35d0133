"""Extract a CustomResourceDefinition's ``openAPIV3Schema`` as JSON, for offline validation in the tests.

Usage (how kubeflow_pytorchjob_v1.json was made; see README.md beside this file):

    git show v1.9.0:manifests/base/crds/kubeflow.org_pytorchjobs.yaml > crd.yaml   # in kubeflow/training-operator
    python tests/ml_core/schemas/extract_crd_schema.py crd.yaml v1 --source "..." > kubeflow_pytorchjob_v1.json

The ``description`` texts are dropped (they are four fifths of the file and validate nothing); every other
keyword is kept as the CRD has it. ``$comment`` records where the schema came from.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml


def without_descriptions(node: Any) -> Any:
    """``node`` with every string ``description`` keyword removed (a *property* named description stays)."""
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items()
                if not (k == "description" and isinstance(v, str))}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crd", help="the CRD's YAML file")
    parser.add_argument("version", help="the served version whose schema to extract, e.g. v1")
    parser.add_argument("--source", required=True, help="where the CRD came from (repository, path, commit)")
    args = parser.parse_args()
    with open(args.crd, encoding="utf-8") as f:
        crd = next(d for d in yaml.safe_load_all(f) if d and d.get("kind") == "CustomResourceDefinition")
    version = next((v for v in crd["spec"]["versions"] if v["name"] == args.version), None)
    if version is None:
        print(f"{args.crd} has no version {args.version}", file=sys.stderr)
        return 1
    schema = {"$comment": f"openAPIV3Schema of {crd['metadata']['name']} {args.version}, descriptions removed; "
                          f"from {args.source}",
              **without_descriptions(version["schema"]["openAPIV3Schema"])}
    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
