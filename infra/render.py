"""Views of a plan for people: a tree grouped by component with each resource's key
properties and a count by type, and a Mermaid diagram that GitHub renders."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from infra.plan import Plan, PlannedResource, render

# The properties worth a glance per type (wire names); everything is in --json.
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("serviceName", "vpcEndpointType"),
    "aws:ec2/flowLog:FlowLog": ("trafficType",),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:sqs/queue:Queue": (
        "visibilityTimeoutSeconds",
        "messageRetentionSeconds",
        "sqsManagedSseEnabled",
        "redrivePolicy",
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": ("rules",),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ("rules",),
    "aws:secretsmanager/secretVersion:SecretVersion": ("secretString",),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "metadataOptions", "blockDeviceMappings"),
    "aws:autoscaling/group:Group": (
        "minSize",
        "maxSize",
        "capacityRebalance",
        "healthCheckType",
        "healthCheckGracePeriod",
    ),
    "aws:lb/loadBalancer:LoadBalancer": (
        "internal",
        "idleTimeout",
        "dropInvalidHeaderFields",
        "enableDeletionProtection",
    ),
    "aws:lb/listener:Listener": ("port", "protocol", "sslPolicy"),
    "aws:lb/targetGroup:TargetGroup": ("port", "healthCheck", "loadBalancingAlgorithmType", "deregistrationDelay"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "threshold", "evaluationPeriods", "treatMissingData"),
}


def short_type(token: str) -> str:
    """``aws:sqs/queue:Queue`` -> ``sqs.Queue``; ``llm-serving:aws:Network`` -> ``Network``."""
    package, module, kind = token.split(":")
    if package == "llm-serving":
        return kind
    return f"{module.split('/')[0]}.{kind}"


def _summary(value: Any, limit: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(plan: Plan, r: PlannedResource) -> str:
    props = []
    for key in KEY_PROPERTIES.get(r.type, ()):
        if key in r.inputs:
            props.append(f"{key}={_summary(render(r.inputs[key], plan.computed))}")
    text = f"[bold]{r.name}[/] [dim]{short_type(r.type)}[/]"
    return text + ("  " + "  ".join(props) if props else "")


def print_tree(plan: Plan, console: Console) -> None:
    kids: dict[str, list[PlannedResource]] = defaultdict(list)
    for r in plan.resources:
        kids[r.parent].append(r)
    stack_urn = _stack_urn(plan)
    root = Tree(
        f"[bold]{plan.project}[/] stack [bold]{plan.stack}[/]: {sum(r.custom for r in plan.resources)} resources"
    )

    def add(node: Tree, parent: str) -> None:
        # Components first, then resources, each by name: the tree reads like the program.
        for r in sorted(kids.get(parent, []), key=lambda r: (r.custom, r.type, r.name)):
            add(node.add(_label(plan, r)), r.urn)

    add(root, stack_urn)
    console.print(root)
    counts = Counter(r.type for r in plan.resources if r.custom)
    table = Table(title="Resources by type", show_edge=False)
    table.add_column("type")
    table.add_column("count", justify="right")
    for token, count in sorted(counts.items()):
        table.add_row(token, str(count))
    table.add_row("[bold]total[/]", f"[bold]{sum(counts.values())}[/]")
    console.print(table)
    print_models(plan, console)
    if plan.findings:
        print_findings(plan, console)


def print_models(plan: Plan, console: Console) -> None:
    """Each model's weight source: where its instances get the weights at boot."""
    models = render(plan.outputs.get("models") or {}, plan.computed)
    if not models:
        return
    table = Table(title="Models", show_edge=False)
    for column in ("model", "weights from", "where"):
        table.add_column(column, overflow="fold")
    for name, outputs in sorted(models.items()):
        weights = outputs.get("weights") or {}
        source = {"s3": "the stack's bucket (staged)", "hub": "the Hugging Face Hub (token)"}.get(
            str(weights.get("source")), ""
        )
        table.add_row(name, source, str(weights.get("uri", "")))
    console.print(table)


def print_findings(plan: Plan, console: Console) -> None:
    table = Table(title="Policy findings", show_edge=False)
    for column in ("level", "policy", "resource", "message"):
        table.add_column(column, overflow="fold")
    for f in sorted(plan.findings, key=lambda f: (f["level"], f["policy"], f["urn"])):
        table.add_row(f["level"], f["policy"], f["urn"].rsplit("::", 1)[-1], f["message"])
    console.print(table)


def _stack_urn(plan: Plan) -> str:
    return f"urn:pulumi:{plan.stack}::{plan.project}::pulumi:pulumi:Stack::{plan.project}-{plan.stack}"


def _node_id(urn: str) -> str:
    return "n" + hashlib.sha256(urn.encode()).hexdigest()[:10]


def _owners(plan: Plan) -> dict[str, str]:
    """Each resource's top-level ancestor (the component it belongs to)."""
    stack_urn = _stack_urn(plan)
    by_urn = {r.urn: r for r in plan.resources}
    owner: dict[str, str] = {}
    for r in plan.resources:
        node = r
        while node.parent != stack_urn and node.parent in by_urn:
            node = by_urn[node.parent]
        owner[r.urn] = node.urn
    return owner


def mermaid(plan: Plan) -> str:
    """A flowchart of the stack's components: shared parts, then one box per model, with an
    arrow where one component uses another's outputs."""
    stack_urn = _stack_urn(plan)
    top = sorted((r for r in plan.resources if r.parent == stack_urn), key=lambda r: r.urn)
    owner = _owners(plan)
    inside: dict[str, Counter[str]] = defaultdict(Counter)
    for r in plan.resources:
        if r.custom:
            inside[owner[r.urn]][short_type(r.type)] += 1
    models = sorted((plan.outputs.get("models") or {}).keys())
    lines = ["flowchart LR", '  subgraph shared["shared by all models"]']
    lines += [f'    {_node_id(r.urn)}["{_box(r, inside[r.urn])}"]' for r in top if r.name not in models]
    lines.append("  end")
    for i, model in enumerate(models):
        lines.append(f'  subgraph model{i}["model {model}"]')
        lines += [f'    {_node_id(r.urn)}["{_box(r, inside[r.urn])}"]' for r in top if r.name == model]
        lines.append("  end")
    edges = {
        (owner[r.urn], owner[d])
        for r in plan.resources
        for d in r.dependencies
        if d in owner and owner[d] != owner[r.urn]
    }
    lines += [f"  {_node_id(a)} -->|uses| {_node_id(b)}" for a, b in sorted(edges)]
    return "\n".join(lines) + "\n"


def _box(component: PlannedResource, inside: Counter[str]) -> str:
    title = f"{short_type(component.type)} {component.name}"
    detail = "<br/>".join(f"{n} x {t}" for t, n in sorted(inside.items()))
    return f"{title}<br/><small>{detail}</small>" if detail and not component.custom else title
