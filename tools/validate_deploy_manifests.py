"""Checks examples/deploy/ without a cluster or a Docker daemon, and describes it for test/deploy-manifests.test.ts.

    python tools/validate_deploy_manifests.py          # one line per manifest document; exit 1 if any is invalid
    python tools/validate_deploy_manifests.py --json   # the same as JSON, with the parsed manifests and Dockerfile
    python tools/validate_deploy_manifests.py --vendor KSERVE_GIT_DIR --ref v0.20.0   # re-extract the schemas

Each document of examples/deploy/kserve/*.yaml is validated against the openAPIV3Schema of its kind in KServe's
CRDs, vendored in examples/deploy/schemas/ (their README.md names the commit). Stricter than the API server in one
way, on purpose: a field the schema does not have is an error, where Kubernetes would drop it with a warning, so a
misspelt field fails here instead of vanishing. Then the rules KServe's controller applies beyond the schema and
that these manifests depend on (each cites its place in KServe's source). The Dockerfile is read only to describe
its final stage; the test compares it with the manifests and with `vitorch serve`'s flags.
"""

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "examples" / "deploy"
SCHEMAS = DEPLOY / "schemas"
SOURCE = SCHEMAS / "source.json"

# The CRDs whose schemas are vendored: KServe's path, and the file written for it under schemas/.
CRDS = {
    "config/crd/full/serving.kserve.io_servingruntimes.yaml": "servingruntime.json",
    "config/crd/full/serving.kserve.io_inferenceservices.yaml": "inferenceservice.json",
}

# pkg/apis/serving/v1beta1/inference_service_validation.go: IsvcNameFmt.
ISVC_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# pkg/constants/constants.go: InferenceServiceContainerName, and the InferenceServiceProtocol values.
MODEL_CONTAINER = "kserve-container"
PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; kubectl refuses the file. Refuse it here too."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def without_descriptions(node):
    if isinstance(node, dict):
        return {key: without_descriptions(value) for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [without_descriptions(value) for value in node]
    return node


def vendor(git_dir: str, ref: str) -> None:
    """Writes schemas/*.json and source.json from KServe's CRDs at REF of a KServe clone."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", git_dir, *args], check=True, capture_output=True, text=True).stdout

    commit = git("rev-parse", f"{ref}^{{commit}}").strip()
    documents = []
    for crd_path, out_name in CRDS.items():
        crd = yaml.safe_load(git("show", f"{commit}:{crd_path}"))
        # The version the API server stores is the one manifests should be written for.
        (version,) = [v for v in crd["spec"]["versions"] if v.get("served") and v.get("storage")]
        schema = without_descriptions(version["schema"]["openAPIV3Schema"])
        # Sorted and compact: the same commit always gives the same bytes, so a re-extraction shows as no change.
        (SCHEMAS / out_name).write_text(json.dumps(schema, sort_keys=True, separators=(",", ":")) + "\n")
        documents.append(
            {
                "apiVersion": f"{crd['spec']['group']}/{version['name']}",
                "kind": crd["spec"]["names"]["kind"],
                "schema": out_name,
                "crd": crd_path,
                "blob": git("rev-parse", f"{commit}:{crd_path}").strip(),
            }
        )
    (SCHEMAS / "LICENSE").write_text(git("show", f"{commit}:LICENSE"))
    source = {"repository": "https://github.com/kserve/kserve", "ref": ref, "commit": commit, "documents": documents}
    SOURCE.write_text(json.dumps(source, indent=2) + "\n")
    print(f"vendored {len(documents)} schemas from kserve {ref} ({commit})")


def strict(schema):
    """The schema with unknown fields refused wherever Kubernetes would prune them (objects with properties, neither
    a map nor marked to keep unknown fields)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: (value if key == "properties" else strict(value)) for key, value in schema.items()}
    if "properties" in schema:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    return out


def where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def schema_errors(document, validators) -> list[str]:
    if not isinstance(document, dict):
        return ["not a mapping"]
    key = (document.get("apiVersion"), document.get("kind"))
    if key not in validators:
        known = ", ".join(f"{a} {k}" for a, k in validators)
        return [f"no schema for apiVersion {key[0]!r} kind {key[1]!r} (vendored: {known})"]
    errors = sorted(validators[key].iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    out = [f"{where(e.absolute_path)}: {e.message}" for e in errors]
    if not isinstance(document.get("metadata"), dict) or not document["metadata"].get("name"):
        out.append("metadata.name: required")
    return out


def kserve_rule_errors(document, runtimes) -> list[str]:
    """KServe's own rules, beyond the schema, that decide whether these manifests work."""
    kind = document.get("kind")
    spec = document.get("spec") or {}
    errors = []
    if kind == "ServingRuntime":
        # utils.go MergeServingRuntimeAndInferenceServiceSpecs: "failed to find kserve-container".
        if MODEL_CONTAINER not in [c.get("name") for c in spec.get("containers", [])]:
            errors.append(f"spec.containers: none is named {MODEL_CONTAINER}, which KServe runs the model in")
        for protocol in spec.get("protocolVersions", []):
            if protocol not in PROTOCOLS:
                errors.append(f"spec.protocolVersions: {protocol!r} is none of {sorted(PROTOCOLS)}")
    if kind == "InferenceService":
        name = (document.get("metadata") or {}).get("name", "")
        if not ISVC_NAME.match(name):
            errors.append(f"metadata.name: {name!r} does not match {ISVC_NAME.pattern} (KServe's webhook refuses it)")
        model = (spec.get("predictor") or {}).get("model") or {}
        # predictor_model.go GetProtocol: an unset protocolVersion is v1 when KServe picks a runtime.
        protocol = model.get("protocolVersion", "v1")
        if protocol not in PROTOCOLS:
            errors.append(f"spec.predictor.model.protocolVersion: {protocol!r} is none of {sorted(PROTOCOLS)}")
        runtime_name = model.get("runtime")
        if runtime_name is not None:
            runtime = runtimes.get(runtime_name)
            if runtime is None:
                errors.append(f"spec.predictor.model.runtime: no ServingRuntime {runtime_name!r} in these manifests")
            else:
                formats = [f.get("name") for f in runtime.get("supportedModelFormats", [])]
                if (model.get("modelFormat") or {}).get("name") not in formats:
                    errors.append(f"spec.predictor.model.modelFormat: runtime {runtime_name!r} supports {formats}")
                # servingruntime_types.go IsProtocolVersionSupported.
                if runtime.get("protocolVersions") and protocol not in runtime["protocolVersions"]:
                    errors.append(
                        f"spec.predictor.model.protocolVersion: {protocol!r} is not among the protocolVersions "
                        f"{runtime['protocolVersions']} of runtime {runtime_name!r}"
                    )
    return errors


def read_manifests(folder: Path):
    """[(file, index in file, document or None, parse error or None)] for FOLDER/*.yaml."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        relative = str(path.relative_to(DEPLOY)) if path.is_relative_to(DEPLOY) else str(path)
        try:
            documents = [d for d in yaml.load_all(path.read_text(), Loader=UniqueKeyLoader) if d is not None]
        except yaml.YAMLError as error:
            out.append((relative, 0, None, f"YAML: {error}"))
            continue
        out.extend((relative, index, document, None) for index, document in enumerate(documents))
    return out


def describe_dockerfile(path: Path) -> dict:
    """The final stage's ENV, EXPOSE, USER, STOPSIGNAL, HEALTHCHECK, ENTRYPOINT and CMD, and the stages' names."""
    logical, pending = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue  # comments, also those between continuation lines, as Docker drops them
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages, final = [], {}
    for line in logical:
        if not line.strip():
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            words = rest.split()
            stages.append(words[2] if len(words) >= 3 and words[1].upper() == "AS" else None)
            final = {"from": words[0], "env": {}, "expose": []}
        elif instruction == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                final["env"][key] = value
        elif instruction == "EXPOSE":
            final["expose"] += rest.split()
        elif instruction in ("USER", "STOPSIGNAL"):
            final[instruction.lower()] = rest
        elif instruction in ("ENTRYPOINT", "CMD"):
            final[instruction.lower()] = json.loads(rest)  # exec form only: a shell would stand between the signals
        elif instruction == "HEALTHCHECK":
            options, _, command = rest.partition("CMD")
            final["healthcheck"] = {
                "options": dict(o.lstrip("-").split("=", 1) for o in options.split()),
                "cmd": json.loads(command) if command.strip() else rest,
            }
    return {"stages": stages, "final": final}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print the results and the parsed files as JSON")
    parser.add_argument(
        "--manifests", metavar="DIR", type=Path, default=DEPLOY / "kserve", help="the folder of *.yaml to validate"
    )
    parser.add_argument("--vendor", metavar="KSERVE_GIT_DIR", help="re-extract the schemas from a KServe clone")
    parser.add_argument("--ref", default="v0.20.0", help="the KServe tag or commit to extract (with --vendor)")
    args = parser.parse_args()
    if args.vendor:
        vendor(args.vendor, args.ref)
        return 0

    source = json.loads(SOURCE.read_text())
    # Draft 4: the JSON Schema that OpenAPI 3.0's schema objects, and so Kubernetes' CRDs, are built on.
    validators = {
        (d["apiVersion"], d["kind"]): jsonschema.Draft4Validator(
            strict(json.loads((SCHEMAS / d["schema"]).read_text()))
        )
        for d in source["documents"]
    }
    manifests = read_manifests(args.manifests.resolve())
    runtimes = {
        d["metadata"]["name"]: d["spec"]
        for _, _, d, _ in manifests
        if isinstance(d, dict) and d.get("kind") == "ServingRuntime" and isinstance(d.get("spec"), dict)
    }
    results = []
    for file, index, document, parse_error in manifests:
        errors = [parse_error] if parse_error else schema_errors(document, validators)
        if not errors:
            errors = kserve_rule_errors(document, runtimes)
        results.append(
            {
                "file": file,
                "index": index,
                "apiVersion": (document or {}).get("apiVersion"),
                "kind": (document or {}).get("kind"),
                "name": ((document or {}).get("metadata") or {}).get("name"),
                "errors": errors,
                "document": document,
            }
        )
    kserve = f"kserve {source['ref']} ({source['commit'][:12]})"
    if args.json:
        dockerfile = describe_dockerfile(DEPLOY / "Dockerfile")
        print(json.dumps({"schemas": source, "documents": results, "dockerfile": dockerfile}, indent=1))
    else:
        for r in results:
            status = "ok     " if not r["errors"] else "INVALID"
            print(f"{status} {r['file']}#{r['index']} {r['kind']}/{r['name']} against {kserve}")
            for error in r["errors"]:
                print(f"          {error}")
    if not results:
        print(f"no manifests found in {args.manifests}", file=sys.stderr)
        return 1
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
