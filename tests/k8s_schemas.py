"""The plan's Kubernetes objects as manifests, checked against Kubernetes' own schemas.

Pulumi's mocks accept any object; the API server refuses a wrong type halfway through
``pulumi up``, and a misspelt field either fails the same way (strict field validation) or
is silently dropped: a setting that never takes effect. Both are errors here. Under the
mocks each ``kubernetes:*`` resource arrives with its wire inputs: ``apiVersion``, ``kind``,
``metadata``, ``spec`` (or ``data``...), camelCase, integers as floats. ``manifest`` turns
one back into the document the provider would send, and ``validate`` checks it:

- built-in kinds against the OpenAPI schemas of the cluster's Kubernetes version that
  kubernetes-validate ships offline, in their strict form (no unknown field);
- custom resources (KEDA, Karpenter, EKS Auto Mode, the AWS Load Balancer Controller) against
  the schemas under ``tests/crds/`` (their README says where each comes from), made strict the
  way the API server prunes: an object that lists its properties takes no other, unless it
  says ``x-kubernetes-preserve-unknown-fields``. Their metadata is checked as an ObjectMeta.

Inputs pulumi-kubernetes adds that are not part of the object: none on the object resources
(measured with pulumi-kubernetes 4.34.2 under mocks: Namespace, ServiceAccount, Deployment,
Service, PodDisruptionBudget, ConfigMap, Secret and CustomResource register exactly the
object's fields; a Secret's ``data``/``stringData`` arrive as RPC secrets, unwrapped here).
The strict schemas are the guard: a key Pulumi added would be reported as unknown.

Test-only: kubernetes-validate and jsonschema are dev dependencies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import utils as kv_utils
from pulumi.output import Unknown
from pulumi.runtime import rpc

from infra.plan import COMPUTED, Plan, PlannedResource

CRD_DIR = Path(__file__).parent / "crds"
"""One schema per custom kind: ``<group>_<version>_<Kind>.yaml``."""

AUTONAME_SUFFIX = "-0a1b2c3d"
"""What pulumi-kubernetes appends to the logical name when the program sets no
``metadata.name`` (a random suffix; a placeholder here, as the mocks assign none)."""

NOT_OBJECTS: dict[str, str] = {
    r"^kubernetes:helm\.sh/": "a Helm release: its chart is neither fetched nor rendered under the mocks",
    r"^kubernetes:(yaml|kustomize)/": "a group of objects read from files: a component, not one object",
    r"Patch$": "a patch of an object that exists: a partial object, not valid on its own",
    r"List$": "a list of objects: each item is declared and checked on its own",
}
"""``kubernetes:*`` types that are not one whole object, each with the reason."""


def is_object(resource: PlannedResource) -> bool:
    """A Kubernetes object the provider creates (not a Helm release, not the provider)."""
    return (
        resource.custom
        and resource.type.startswith("kubernetes:")
        and not any(re.search(pattern, resource.type) for pattern in NOT_OBJECTS)
    )


# ------------------------------------------------------------------------------ manifests


def plain(value: Any) -> Any:
    """A wire value as Kubernetes takes it: whole floats back to integers (the mocks carry
    every number as a float), secrets unwrapped, a value unknown offline as ``<computed>``."""
    if rpc.is_rpc_secret(value):
        return plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return COMPUTED
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest(resource: PlannedResource) -> dict[str, Any]:
    """The document the provider would send for ``resource``: apiVersion, kind, metadata,
    then the rest of its inputs (spec, data...), with an autonamed ``metadata.name`` when
    the program sets none."""
    inputs = plain(resource.inputs)
    metadata = dict(inputs.pop("metadata", None) or {})
    metadata.setdefault("name", f"{resource.name}{AUTONAME_SUFFIX}")
    head = {key: inputs.pop(key) for key in ("apiVersion", "kind") if key in inputs}
    return {**head, "metadata": metadata, **inputs}


def manifests(plan: Plan) -> list[dict[str, Any]]:
    """Every Kubernetes object of the plan, as documents."""
    return [manifest(r) for r in plan.resources if is_object(r)]


# ----------------------------------------------------------------------------- validation


def validate(doc: Mapping[str, Any], kubernetes_version: str) -> list[str]:
    """What the API server of ``kubernetes_version`` (``"1.33"``) would refuse in ``doc``: each
    message names the path and the offending field. Built-in kinds report their first error
    (kubernetes-validate stops there); custom resources report every error."""
    try:
        kubernetes_validate.validate(dict(doc), kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return custom_resource_errors(doc, kubernetes_version)
    except kubernetes_validate.ValidationError as error:
        return [_message(error)]
    except (kv_utils.VersionNotSupportedError, kubernetes_validate.InvalidSchemaError) as error:
        return [error.message]
    except (KeyError, TypeError) as error:  # no apiVersion or kind: not a Kubernetes object at all
        return [f"not a Kubernetes object: {error!r}"]
    return []


def custom_resource_errors(doc: Mapping[str, Any], kubernetes_version: str) -> list[str]:
    api_version, kind = doc["apiVersion"], doc["kind"]
    path = schema_path(api_version, kind)
    if not path.exists():
        return [f"{api_version} {kind}: no schema for this custom resource: add one under {CRD_DIR.name}/"]
    body = {key: value for key, value in doc.items() if key != "metadata"}
    messages = [_message(e) for e in _validator(path).iter_errors(body)]
    metadata = doc.get("metadata", {})
    messages += [_message(e, prefix="metadata") for e in _object_meta(kubernetes_version).iter_errors(metadata)]
    return sorted(messages)


def schema_path(api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return CRD_DIR / f"{group}_{version}_{kind}.yaml"


def _message(error: jsonschema.ValidationError, prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    parts += [f"[{p}]" if isinstance(p, int) else str(p) for p in error.absolute_path]
    where = ".".join(parts).replace(".[", "[") or "(top level)"
    return f"{where}: {error.message}"


# ---------------------------------------------------------------------------- CRD schemas


def strict(node: Any) -> Any:
    """A CRD's structural schema as the API server applies it, in JSON Schema: an object
    that lists its properties takes no other (the server prunes or, with strict field
    validation, refuses them) unless it preserves unknown fields; int-or-string is either."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out = {key: strict(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(path: Path) -> jsonschema.protocols.Validator:
    schema = strict(yaml.safe_load(path.read_text()))
    properties = schema.setdefault("properties", {})
    properties.pop("metadata", None)  # checked as an ObjectMeta (_object_meta)
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _object_meta(kubernetes_version: str) -> jsonschema.protocols.Validator:
    """ObjectMeta of that Kubernetes version, from kubernetes-validate's strict definitions."""
    wanted = kv_utils.major_minor(kubernetes_version.removeprefix("v"))
    version = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) <= wanted][-1]
    definitions = kv_utils.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", kubernetes_version
    )
    schema = {**definitions, "$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(schema)


# ----------------------------------------------------------------------------------- plan


def plan_violations(plan: Plan, kubernetes_version: str) -> list[str]:
    """Every refusal, for every Kubernetes object of the plan, named by type and name."""
    return [
        f"{r.type} {r.name}: {message}"
        for r in plan.resources
        if is_object(r)
        for message in validate(manifest(r), kubernetes_version)
    ]


def secrets_with_data(plan: Plan) -> list[str]:
    """Secrets that hold data: the design keeps every token out of the cluster (the workers
    read it from AWS), so any is a finding."""
    return [
        f"{r.name}: a Secret holding {', '.join(sorted(k for k in ('data', 'stringData') if r.input(k)))}"
        for r in plan.of_type("kubernetes:core/v1:Secret")
        if r.input("data") or r.input("stringData")
    ]


DEFAULT_KUBERNETES_VERSION = "1.33"
"""For a plan that creates no cluster (it deploys into an existing one, whose version is not
known offline). kubernetes-validate ships schemas for 1.25 to 1.37."""


def kubernetes_version(plan: Plan) -> str:
    """The version of the cluster the plan creates (``aws:eks/cluster:Cluster`` input
    ``version``), else ``DEFAULT_KUBERNETES_VERSION``."""
    versions = {str(r.input("version")) for r in plan.of_type("aws:eks/cluster:Cluster") if r.input("version")}
    if len(versions) > 1:
        raise ValueError(f"the plan creates clusters of several versions: {sorted(versions)}")
    return versions.pop() if versions else DEFAULT_KUBERNETES_VERSION
