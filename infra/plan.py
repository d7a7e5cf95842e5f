"""The offline plan: the real program (``infra/__main__.py``) under Pulumi's mocks.

Reads ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml``, hands their config to the Pulumi
runtime as the CLI would (strings; JSON text for objects, lists, numbers and booleans;
``secure:`` values as a placeholder listed as secret), runs the program, and records every
resource it registers. No cloud credentials and no Pulumi CLI are needed.

What the mocks cannot know is marked: values AWS assigns at deploy time (ids, ARNs,
auto-generated names) come back from the mocks as deterministic placeholders that the
JSON view prints as ``"<computed>"``; secrets print as ``"[secret]"``. A placeholder that
ends up inside a longer string (an ARN in a policy document) stays visible as what it is:
an ARN in the documentation account 123456789012.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import gc
import hashlib
import json
import runpy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi.output import Unknown
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_DIR / "infra" / "__main__.py"
ACCOUNT_ID = "123456789012"
"""AWS's documentation account: placeholder ARNs can never point at a real resource."""
COMPUTED = "<computed>"
SECRET = "[secret]"
SECRET_PLACEHOLDER = "offline-plan-secret-placeholder"
"""What a ``secure:`` config value reads as offline (it cannot be decrypted here)."""


class StackFileError(Exception):
    """The stack does not exist or its file cannot be read."""


class DuplicateUrnError(Exception):
    """The program declared two resources with one URN: Pulumi refuses the second at
    registration (``Duplicate resource URN``), halfway through ``pulumi up``; the mocks would
    silently keep both."""

    def __init__(self, duplicates: list[PlannedResource], resources: list[PlannedResource]) -> None:
        super().__init__("\n".join(f"two resources would have the URN {r.urn}" for r in duplicates))
        self.duplicates = duplicates
        self._by_urn = {r.urn: r for r in resources}

    def top_level_name(self, resource: PlannedResource) -> str:
        """The name of the stack's direct child that declared ``resource`` (its component)."""
        while resource.parent in self._by_urn:
            resource = self._by_urn[resource.parent]
        return resource.name


@dataclass(frozen=True)
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    """Wire-form inputs: camelCase keys, secrets wrapped as Pulumi's RPC secrets."""
    dependencies: tuple[str, ...]
    id: str
    """The (placeholder) id the mocks gave the resource; never shown in the JSON."""
    ignore_changes: tuple[str, ...] = ()
    """Input paths the resource option ``ignore_changes`` keeps Pulumi from updating."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """What the mocks answered (inputs plus placeholders such as ``arn``), for tests that
    check one resource points at another."""

    def input(self, key: str, default: Any = None) -> Any:
        """An input with secrets unwrapped (for tests and policy rules)."""
        return _unwrap(self.inputs.get(key, default))


@dataclass
class Plan:
    project: str
    stack: str
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    computed: frozenset[str]
    """Every placeholder the mocks made up for a value AWS assigns at deploy time."""
    findings: list[dict[str, str]] = field(default_factory=list)

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> PlannedResource:
        matches = [r for r in self.resources if r.type == type_ and r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources of type {type_} named {name}")
        return matches[0]

    def children(self, parent_urn: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == parent_urn]

    def to_json(self) -> dict[str, Any]:
        """The contract of ``llm-serving plan --json`` (README, "The offline plan")."""
        return {
            "project": self.project,
            "stack": self.stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "inputs": render(r.inputs, self.computed),
                }
                for r in self.resources
            ],
            "outputs": render(self.outputs, self.computed),
            "findings": sorted(self.findings, key=lambda f: (f["urn"], f["policy"])),
        }

    def json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"


def render(value: Any, computed: frozenset[str] = frozenset()) -> Any:
    """A wire value as the plan shows it: secrets hidden, unknowns marked, numbers tidy."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return COMPUTED
    if isinstance(value, str):
        return COMPUTED if value in computed else value
    if isinstance(value, Mapping):
        return {str(k): render(v, computed) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [render(v, computed) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _unwrap(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


# ------------------------------------------------------------------------- stack files


def available_stacks(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
"""The top-level keys of a stack settings file (docs/reference.md#pulumi)."""


def _duplicate_keys(node: yaml.Node, path: tuple[str, ...] = ()) -> list[str]:
    """Every key defined twice in one mapping, as ``line N: path is defined twice (first on
    line M)``. PyYAML keeps the last definition silently: a copy-pasted model block would
    drop the first one without a word."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "<complex key>"
            line = key_node.start_mark.line + 1
            if key in first:
                problems.append(
                    f"line {line}: {_yaml_path((*path, key))} is defined twice (first on line {first[key]})"
                )
            else:
                first[key] = line
            problems += _duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*path, f"[{i}]"))
    return problems


def _yaml_path(parts: tuple[str, ...]) -> str:
    """``config``, ``llm-serving:models.chat``: stack config keys as users write them."""
    if len(parts) > 1 and parts[0] == "config":
        parts = parts[1:]
    return "".join(p if i == 0 or p.startswith("[") else f".{p}" for i, p in enumerate(parts))


def _load_yaml(path: Path) -> Any:
    """A YAML file's document, refusing duplicate keys; ``StackFileError`` for anything unreadable."""
    try:
        text = path.read_text()
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        duplicates = _duplicate_keys(node) if node is not None else []
        if duplicates:
            raise StackFileError(
                "\n".join(
                    f"{path.name} {d}: YAML keeps only the last one, so the first would be silently "
                    "dropped; merge them or rename one"
                    for d in duplicates
                )
            )
        return yaml.safe_load(text)
    except OSError as e:
        raise StackFileError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise StackFileError(f"{path.name} is not valid YAML: {_yaml_error(e)}") from None


def _yaml_error(e: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: what is wrong, and where."""
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        mark = e.problem_mark
        return f"{e.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(e).split())


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise StackFileError(f"no Pulumi.yaml in {project_dir}: run from the project folder or pass --project-dir")
    project = _load_yaml(path)
    name = project.get("name") if isinstance(project, Mapping) else None
    if not isinstance(name, str) or not name:
        raise StackFileError(f"{path.name} needs a project name: a line such as `name: llm-serving`")
    return name


def _has_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _replace_secure(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _replace_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v) for v in value]
    return value


def _as_cli_string(value: Any) -> str:
    """Pulumi hands every config value to the program as a string; structured values and
    scalars other than strings as JSON text."""
    return value if isinstance(value, str) else json.dumps(value)


def read_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> tuple[dict[str, str], list[str]]:
    """The stack's config as the Pulumi CLI would pass it: (values, secret keys).

    Raises ``StackFileError``, naming the file, line or key and the fix, for anything the
    Pulumi CLI would refuse or silently misread."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(available_stacks(project_dir)) or "none"
        raise StackFileError(f"no stack file {path.name} in {project_dir} (stacks here: {known})")
    project = project_name(project_dir)
    document = _load_yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, Mapping):
        raise StackFileError(f"{path.name} must be a mapping with a 'config:' key, not a {_yaml_kind(document)}")
    problems = []
    for key in document:
        if key not in STACK_FILE_KEYS:
            close = difflib.get_close_matches(str(key), STACK_FILE_KEYS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.append(
                f"{path.name}: unknown top-level key {key!r}: {hint}valid keys are {', '.join(STACK_FILE_KEYS)}"
            )
    config = document.get("config")
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        problems.append(f"{path.name}: config must be a mapping of keys to values, not a {_yaml_kind(config)}")
        config = {}
    values: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in config.items():
        if not isinstance(key, str) or not key:
            problems.append(
                f"{path.name}: config key {key!r} must be a string such as {project}:models (quote it if YAML "
                "reads it as a number or a boolean)"
            )
            continue
        full_key = key if ":" in key else f"{project}:{key}"
        if _has_secure(value):
            secrets.append(full_key)
        values[full_key] = _as_cli_string(_replace_secure(value))
    if problems:
        raise StackFileError("\n".join(problems))
    return values, secrets


def _yaml_kind(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "value")


# ----------------------------------------------------------------------------- mocks


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:7]


# ARN shapes AWS gives each type ({r} region, {a} account, {n} physical name, {h} hash), so
# the policy documents built from them lint as they will on AWS.
_ARN_FORMATS = {
    "aws:sqs/queue:Queue": "arn:aws:sqs:{r}:{a}:{n}",
    "aws:sns/topic:Topic": "arn:aws:sns:{r}:{a}:{n}",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}",
    "aws:secretsmanager/secret:Secret": "arn:aws:secretsmanager:{r}:{a}:secret:{n}-{h6}",
    "aws:iam/role:Role": "arn:aws:iam::{a}:role/{n}",
    "aws:iam/instanceProfile:InstanceProfile": "arn:aws:iam::{a}:instance-profile/{n}",
    "aws:kms/key:Key": "arn:aws:kms:{r}:{a}:key/{h}",
    "aws:lb/loadBalancer:LoadBalancer": "arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/{n}/{h}",
    "aws:lb/targetGroup:TargetGroup": "arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/{n}/{h}",
    "aws:lb/listener:Listener": "arn:aws:elasticloadbalancing:{r}:{a}:listener/app/{n}/{h}",
    "aws:autoscaling/group:Group": "arn:aws:autoscaling:{r}:{a}:autoScalingGroup:{h}:autoScalingGroupName/{n}",
    "aws:autoscaling/policy:Policy": (
        "arn:aws:autoscaling:{r}:{a}:scalingPolicy:{h}:autoScalingGroupName/asg:policyName/{n}"
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{r}:{a}:alarm:{n}",
    "aws:cloudwatch/eventRule:EventRule": "arn:aws:events:{r}:{a}:rule/{n}",
}
_ARN_SUFFIX_FORMATS = {
    "aws:lb/loadBalancer:LoadBalancer": "app/{n}/{h}",
    "aws:lb/targetGroup:TargetGroup": "targetgroup/{n}/{h}",
}


Invoke = Callable[["_Mocks", dict[str, Any]], dict[str, Any]]
"""An answer to a data-source lookup: the mocks and the lookup's arguments -> its result."""


class _Mocks(mocks.Mocks):
    """Answers resource registrations and invokes the way AWS would, with placeholders for
    what only AWS can know. Every placeholder is recorded so the plan can mark it.

    Lookups about the account (an existing subnet's VPC and AZ, whether an AMI exists) are
    answered as if the account matched the config: the plan cannot know otherwise, and
    ``pulumi preview`` checks them for real (``infra.preflight``)."""

    def __init__(
        self, region: str, config: Mapping[str, str] | None = None, invokes: Mapping[str, Invoke] | None = None
    ) -> None:
        self.region = region
        self.config = dict(config or {})
        self.invokes = {**_INVOKES, **(invokes or {})}
        self.computed: set[str] = set()
        self._lock = threading.Lock()

    def _placeholder(self, value: str) -> str:
        with self._lock:
            self.computed.add(value)
        return value

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if not args.custom:
            return "", state
        token = args.typ
        service = token.split(":")[1].split("/")[0]
        suffix = _short_hash(f"{token}::{args.name}")
        physical = args.inputs.get("name") or self._placeholder(
            (args.inputs.get("namePrefix") or f"{args.name}-") + suffix
        )
        resource_id = self._placeholder(f"{args.name}-{suffix}-id")
        if token == "aws:sqs/queue:Queue":
            arn = self._placeholder(f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{physical}")
            state["url"] = self._placeholder(f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT_ID}/{physical}")
            resource_id = state["url"]
        elif token == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = self._placeholder(f"{args.name}-{suffix}-latest-version")
            arn = self._placeholder(f"arn:aws:ec2:{self.region}:{ACCOUNT_ID}:launch-template/{resource_id}")
        elif token == "aws:s3/bucket:Bucket":
            bucket = args.inputs.get("bucket") or physical
            state["bucket"] = bucket
            arn = self._placeholder(f"arn:aws:s3:::{bucket}")
            resource_id = bucket
        else:
            fields = {
                "r": self.region,
                "a": ACCOUNT_ID,
                "n": physical,
                "h": hashlib.sha256(token.encode() + args.name.encode()).hexdigest()[:16],
                "h6": suffix[:6],
            }
            default = f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{kind_of(token)}/{physical}"
            arn = self._placeholder(_ARN_FORMATS.get(token, default).format(**fields))
            if token in _ARN_SUFFIX_FORMATS:
                state["arnSuffix"] = self._placeholder(_ARN_SUFFIX_FORMATS[token].format(**fields))
        if token == "aws:eks/cluster:Cluster":
            state.update(self._eks_cluster_outputs(physical, state))
        state.setdefault("arn", arn)
        state.setdefault("name", physical)
        return resource_id, state

    def _eks_cluster_outputs(self, physical: str, state: Mapping[str, Any]) -> dict[str, Any]:
        """What EKS assigns a cluster it creates (its endpoint, CA, cluster security group and
        VPC), as placeholders of their real shape: as ``eks:getCluster`` answers for an
        existing one, so nothing built from them reads empty."""
        h = hashlib.sha256(physical.encode()).hexdigest()
        return {
            "endpoint": self._placeholder(f"https://{h[:32].upper()}.gr7.{self.region}.eks.amazonaws.com"),
            "certificateAuthority": {"data": self._placeholder(f"{physical}-certificate-authority-data")},
            "vpcConfig": {
                **(state.get("vpcConfig") or {}),
                "clusterSecurityGroupId": self._placeholder(f"sg-{h[:17]}"),
                "vpcId": self._placeholder(f"vpc-{h[17:34]}"),
            },
        }

    def call(self, args: mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        answer = self.invokes.get(args.token)
        if answer is None:
            raise NotImplementedError(
                f"the offline plan has no answer for the invoke {args.token}; add one to infra/plan.py"
            )
        return answer(self, args.args)


def kind_of(token: str) -> str:
    return token.rsplit(":", 1)[-1].lower()


def _get_region(m: _Mocks, _: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": m.region,
        "name": m.region,
        "region": m.region,
        "endpoint": f"ec2.{m.region}.amazonaws.com",
        "description": m.region,
    }


def _get_availability_zones(m: _Mocks, _: dict[str, Any]) -> dict[str, Any]:
    letters = "abcdef"
    return {
        "id": m.region,
        "names": [f"{m.region}{c}" for c in letters],
        "zoneIds": [f"use1-az{i + 1}" for i in range(len(letters))],
        "groupNames": [m.region] * len(letters),
    }


def _get_vpc(m: _Mocks, args: dict[str, Any]) -> dict[str, Any]:
    # The CIDR of an existing VPC is only known in the account.
    return {
        "id": args.get("id"),
        "cidrBlock": m._placeholder("10.255.0.0/16"),
        "arn": m._placeholder(f"arn:aws:ec2:{m.region}:{ACCOUNT_ID}:vpc/{args.get('id')}"),
    }


_ELB_ACCOUNTS = {
    # Elastic Load Balancing's log-writing account per region (AWS's access-log docs).
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "eu-central-1": "054676820928",
}


def _get_elb_service_account(m: _Mocks, _: dict[str, Any]) -> dict[str, Any]:
    account = _ELB_ACCOUNTS.get(m.region) or m._placeholder(f"elb-account-of-{m.region}")
    return {"id": account, "arn": f"arn:aws:iam::{account}:root"}


def _get_caller_identity(_m: _Mocks, _: dict[str, Any]) -> dict[str, Any]:
    return {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline-plan",
        "id": ACCOUNT_ID,
        "userId": "AIDAOFFLINEPLAN",
    }


def _get_partition(_m: _Mocks, _: dict[str, Any]) -> dict[str, Any]:
    return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}


def _existing_network(m: _Mocks) -> dict[str, Any]:
    network = json.loads(m.config.get("llm-serving:network", "{}") or "{}")
    existing = network.get("existing") if isinstance(network, dict) else None
    return existing if isinstance(existing, dict) else {}


def _get_subnet(m: _Mocks, args: dict[str, Any]) -> dict[str, Any]:
    """An existing subnet, as the config describes it: in the configured VPC, each listed
    subnet in its own AZ (in list order)."""
    subnet = str(args.get("id"))
    existing = _existing_network(m)
    lists = [existing.get("privateSubnetIds") or [], existing.get("publicSubnetIds") or []]
    position = next((ids.index(subnet) for ids in lists if subnet in ids), 0)
    return {
        "id": subnet,
        "vpcId": existing.get("vpcId", f"vpc-of-{subnet}"),
        "availabilityZone": f"{m.region}{'abcdef'[position % 6]}",
        "arn": f"arn:aws:ec2:{m.region}:{ACCOUNT_ID}:subnet/{subnet}",
    }


def _get_ami_ids(_m: _Mocks, args: dict[str, Any]) -> dict[str, Any]:
    wanted = [v for f in args.get("filters") or [] if f.get("name") == "image-id" for v in f.get("values", [])]
    return {"id": "ami-ids", "ids": wanted, "owners": args.get("owners", [])}


def _get_vpc_endpoint_service(m: _Mocks, args: dict[str, Any]) -> dict[str, Any]:
    name = str(args.get("serviceName"))
    return {"id": name, "serviceName": name, "serviceType": "Interface", "serviceId": f"vpce-svc-{_short_hash(name)}"}


def _get_eks_cluster(m: _Mocks, args: dict[str, Any]) -> dict[str, Any]:
    """An existing EKS cluster, as the config describes it: in network.existing's VPC and
    subnets, Auto Mode as eks.autoMode says; what only the account knows (its endpoint, CA,
    security group) as placeholders of their real shape."""
    name = str(args.get("name"))
    existing = _existing_network(m)
    eks = json.loads(m.config.get("llm-serving:eks", "{}") or "{}")
    auto_mode = bool(eks.get("autoMode")) if isinstance(eks, dict) else False
    h = _short_hash(name)
    return {
        "id": name,
        "name": name,
        "arn": f"arn:aws:eks:{m.region}:{ACCOUNT_ID}:cluster/{name}",
        "clusterId": m._placeholder(f"{h}-cluster-id"),
        "endpoint": m._placeholder(f"https://{h.upper()}.gr7.{m.region}.eks.amazonaws.com"),
        "certificateAuthorities": [{"data": m._placeholder(f"{name}-certificate-authority-data")}],
        "createdAt": m._placeholder("2026-01-01T00:00:00Z"),
        "roleArn": m._placeholder(f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-cluster"),
        "version": m._placeholder("1.35"),
        "platformVersion": m._placeholder("eks.1"),
        "status": "ACTIVE",
        "deletionProtection": False,
        "enabledClusterLogTypes": [],
        "identities": [{"oidcs": [{"issuer": m._placeholder(f"https://oidc.eks.{m.region}.amazonaws.com/id/{h}")}]}],
        "accessConfigs": [{"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}],
        "computeConfigs": [
            {
                "enabled": auto_mode,
                "nodePools": ["general-purpose", "system"] if auto_mode else [],
                "nodeRoleArn": m._placeholder(f"arn:aws:iam::{ACCOUNT_ID}:role/{name}-node") if auto_mode else "",
            }
        ],
        "kubernetesNetworkConfigs": [
            {
                "elasticLoadBalancings": [{"enabled": auto_mode}],
                "ipFamily": "ipv4",
                "serviceIpv4Cidr": "172.20.0.0/16",
                "serviceIpv6Cidr": "",
            }
        ],
        "storageConfigs": [{"blockStorages": [{"enabled": auto_mode}]}],
        "upgradePolicies": [{"supportType": "STANDARD"}],
        "zonalShiftConfigs": [{"enabled": False}],
        "outpostConfigs": [],
        "remoteNetworkConfigs": [],
        "controlPlaneScalingConfigs": [],
        "kubeApiServerConfigs": [],
        "kubeControllerManagerConfigs": [],
        "kubeSchedulerConfigs": [],
        "vpcConfig": {
            "vpcId": existing.get("vpcId", f"vpc-of-{name}"),
            "subnetIds": list(existing.get("privateSubnetIds") or []),
            "clusterSecurityGroupId": m._placeholder(f"sg-{hashlib.sha256(name.encode()).hexdigest()[:17]}"),
            "securityGroupIds": [],
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["0.0.0.0/0"],
            "controlPlaneEgressMode": "",
        },
        "region": m.region,
        "tags": {},
    }


_INVOKES: dict[str, Invoke] = {
    "aws:index/getRegion:getRegion": _get_region,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _get_availability_zones,
    "aws:ec2/getVpc:getVpc": _get_vpc,
    "aws:index/getCallerIdentity:getCallerIdentity": _get_caller_identity,
    "aws:index/getPartition:getPartition": _get_partition,
    "aws:elb/getServiceAccount:getServiceAccount": _get_elb_service_account,
    "aws:ec2/getSubnet:getSubnet": _get_subnet,
    "aws:ec2/getAmiIds:getAmiIds": _get_ami_ids,
    "aws:ec2/getVpcEndpointService:getVpcEndpointService": _get_vpc_endpoint_service,
    "aws:eks/getCluster:getCluster": _get_eks_cluster,
}


class _Recorder(mocks.MockMonitor):
    """The mocks' monitor, also keeping what each registration asked for."""

    def __init__(self, m: _Mocks) -> None:
        super().__init__(m)
        self.registered: list[PlannedResource] = []
        self.duplicates: list[PlannedResource] = []
        self._urns: set[str] = set()
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            resource = PlannedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=inputs,
                dependencies=tuple(sorted(request.dependencies)),
                id=response.id,
                ignore_changes=tuple(request.ignoreChanges),
            )
            with self._lock:
                if resource.urn in self._urns:
                    self.duplicates.append(resource)
                else:
                    self._urns.add(resource.urn)
                    self.registered.append(resource)
        return response


# ------------------------------------------------------------------------------ plan


def run_plan(
    stack: str,
    project_dir: Path = PROJECT_DIR,
    overrides: Mapping[str, Any] | None = None,
    invokes: Mapping[str, Invoke] | None = None,
) -> Plan:
    """Evaluate the program for ``stack`` offline and return what it declares.

    ``overrides`` replace stack-file values (full keys, e.g. ``llm-serving:models``), which
    is how tests try a config without writing a file; ``invokes`` answer lookups otherwise
    than the mocks do (an account with fewer AZs). Raises ``StackFileError`` and the
    program's own errors (``infra.config.ConfigError`` for an invalid config)."""
    values, secrets = read_stack_config(stack, project_dir)
    for key, value in (overrides or {}).items():
        values[key] = _as_cli_string(value)
    try:
        plan = run_program(
            lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
            project=project_name(project_dir),
            stack=stack,
            config=values,
            secret_keys=secrets,
            invokes=invokes,
        )
    except DuplicateUrnError as e:
        from infra.config import ConfigError
        from infra.program import config_key_of

        raise ConfigError(
            [
                f"{config_key_of(e.top_level_name(r))}: two entries here would make two resources with one URN "
                f"({r.urn}); Pulumi refuses the second halfway through `pulumi up`: remove or rename one"
                for r in e.duplicates
            ]
        ) from None
    from infra.policies import evaluate

    plan.findings = evaluate(plan.resources)
    return plan


def run_program(
    program: Callable[[], object],
    *,
    project: str = "llm-serving",
    stack: str = "test",
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
    invokes: Mapping[str, Invoke] | None = None,
) -> Plan:
    """Run any Pulumi program (a function declaring resources) under the plan's mocks.

    The offline plan runs ``infra/__main__.py`` through this; component tests run a single
    component."""
    values = dict(config or {})
    m = _Mocks(region=values.get("aws:region", "us-east-1"), config=values, invokes=invokes)
    monitor = _Recorder(m)
    # A second run in the same process needs a fresh root stack resource.
    settings.ROOT.set(None)
    # Pulumi registers the stack on the thread's event loop: after an asyncio.run() in the same
    # thread (a test, a tool) there is none, and set_mocks would fail.
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    mocks.set_mocks(m, project=project, stack=stack, preview=True, monitor=monitor)
    # Outputs a failed earlier run left pending would fail this one (MockSettings does not
    # reset them).
    settings.SETTINGS.outputs = set()
    set_all_config(values, secret_keys or [])
    try:

        def run() -> None:
            program()

        _sync_await(run_pulumi_func(run))
        outputs = _stack_outputs()
    finally:
        set_all_config({}, [])
        # Collect the event loops Pulumi's worker threads left behind now, while their
        # sockets are open; at interpreter exit their finalizers print spurious errors.
        gc.collect()
    resources = sorted(
        (dataclasses.replace(r, outputs=dict(monitor.resources[r.urn].state)) for r in monitor.registered),
        key=lambda r: r.urn,
    )
    if monitor.duplicates:
        raise DuplicateUrnError(monitor.duplicates, resources)
    return Plan(project=project, stack=stack, resources=resources, outputs=outputs, computed=frozenset(m.computed))


def _stack_outputs() -> dict[str, Any]:
    root = settings.get_root_resource()
    exported = dict(getattr(root, "outputs", {}) or {})
    if not exported:
        return {}
    struct = _sync_await(rpc.serialize_properties(exported, {}))
    return dict(rpc.deserialize_properties(struct, keep_unknowns=True))
