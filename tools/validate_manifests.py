"""Validate rendered Kubernetes manifests; exit non-zero on any problem.

Run with the tools interpreter (`.tools/venv/bin/python`, see `make tools`):

    validate_manifests.py [--kubernetes-version 1.30.0] FILE_OR_DASH...

Built-in kinds are checked against the Kubernetes JSON schemas in strict mode
(PyPI kubernetes-validate: unknown fields are errors) and a kind without a
schema is an error, never a warning. prometheus-operator kinds
(monitoring.coreos.com) are checked against the schemas of the npm package
@kubernetes-models/prometheus-operator by validate-prometheus-operator.mjs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import yaml

HERE = Path(__file__).resolve().parent
NODE_SCRIPT = HERE / "validate-prometheus-operator.mjs"
OPERATOR_GROUP = "monitoring.coreos.com/"


def load(paths: list[str]) -> list[tuple[str, dict]]:
    documents = []
    for path in paths:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        for index, document in enumerate(yaml.safe_load_all(text)):
            if document is None:
                continue
            if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
                raise SystemExit(f"{path} document {index}: not a Kubernetes object")
            documents.append(
                (f"{path}:{document['kind']}/{document.get('metadata', {}).get('name')}", document)
            )
    return documents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", default="1.30.0")
    parser.add_argument("--node-modules", required=True, help="node_modules holding @kubernetes-models")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    failures: list[str] = []
    operator_objects: list[dict] = []
    documents = load(args.files)
    for label, document in documents:
        if str(document["apiVersion"]).startswith(OPERATOR_GROUP):
            operator_objects.append({"label": label, "object": document})
            continue
        try:
            kubernetes_validate.validate(document, args.kubernetes_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            failures.append(f"{label}: no schema in Kubernetes {args.kubernetes_version}: {exc}")
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            failures.append(f"{label}: {where}: {exc.message}")

    if operator_objects:
        result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            ["node", str(NODE_SCRIPT), args.node_modules],  # noqa: S607 - node from PATH, like npm
            input=json.dumps(operator_objects),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            failures.append(result.stdout + result.stderr)

    checked = len(documents)
    if failures:
        print("\n".join(failures))
        print(f"{len(failures)} invalid of {checked} objects", file=sys.stderr)
        return 1
    print(f"{checked} objects valid ({len(operator_objects)} prometheus-operator)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
