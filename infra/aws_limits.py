"""Policy rules for what AWS accepts: characters, ranges and quotas the mocks let through.

Pulumi's mocks accept any value; AWS refuses some halfway through ``pulumi up``, with a
half-built stack. The config checks what it derives (naming the key); these rules check
every resource of every plan, whatever produced it, so that a new resource or a new code
path cannot bring the class of defect back. They run in the offline plan and in
``pulumi preview --policy-pack``. Each limit cites its source in docs/reference.md.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationPolicy, StackValidationPolicy

from components import _events, _metrics, dashboard
from components.ec2 import fleet_rollout

MAX_DESCRIPTION = 255
GROUP_DESCRIPTION = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*")
"""Security group descriptions (CreateSecurityGroup; docs/reference.md#security-groups)."""
RULE_DESCRIPTION = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=;{}!$*]*")
"""Rule descriptions: the set AWS documents for rules that reference a security group or a
prefix list, which lacks the ``&`` CIDR rules allow; used for every rule."""
MAX_RULES_PER_GROUP = 60
"""Inbound (and, separately, outbound) rules per security group, AWS's default quota; each
CIDR of a rule counts as one (docs/reference.md#security-groups)."""
MAX_RULES_PER_LOAD_BALANCER = 100
"""Listener rules per Application Load Balancer, AWS's default quota
(docs/reference.md#application-load-balancer)."""
MAX_DASHBOARD_WIDGETS = dashboard.MAX_WIDGETS
MAX_DASHBOARD_METRICS = 2500
MAX_WIDGET_METRICS = 500
DASHBOARD_NAME = re.compile(dashboard.NAME_PATTERN)
MAX_ALARM_NAME = 255
MAX_ALARM_DESCRIPTION = 1024
MAX_ALARM_ACTIONS = 5
MAX_ALARM_METRICS = 10
MAX_ALARM_EXPRESSIONS = 10
MAX_EXPRESSION = 2048
QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")
MAX_ALARM_SECONDS = 86400
"""Period x EvaluationPeriods, for periods under an hour (PutMetricAlarm)."""
MAX_USER_DATA_BYTES = 16 * 1024
"""User data, before base64 (docs/reference.md#ec2-instances-and-amis)."""
HEARTBEAT_TIMEOUT_RANGE = (30, 7200)
"""A lifecycle hook's heartbeat timeout, in seconds (PutLifecycleHook)."""
MAX_REFRESH_ALARMS = fleet_rollout.MAX_ROLLBACK_ALARMS
MAX_CHECKPOINT_DELAY = 172800
MAX_GROUP_NAME_PREFIX = 255 - 26
"""Group names are 255 characters; Pulumi appends 26 to a name prefix."""

Violations = Iterable[tuple[str, str | None]]


def _outside(name: str, value: Any, low: float, high: float) -> str | None:
    """Why ``value`` is refused, when it is a number outside AWS's ``low``..``high``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and not low <= value <= high:
        return f"{name} is {value:g}; AWS allows {low:g} to {high:g}"
    return None


# ------------------------------------------------------------------ security groups


def _rule_entries(rules: Any) -> list[Mapping[str, Any]]:
    return [r for r in rules or [] if isinstance(r, Mapping)]


def _security_group_descriptions(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        if r.resource_type == "aws:ec2/securityGroup:SecurityGroup":
            yield from (
                (m, r.urn) for m in _description_problem("description", r.props.get("description"), GROUP_DESCRIPTION)
            )
            for direction in ("ingress", "egress"):
                for i, rule in enumerate(_rule_entries(r.props.get(direction))):
                    yield from (
                        (m, r.urn)
                        for m in _description_problem(
                            f"{direction}[{i}].description", rule.get("description"), RULE_DESCRIPTION
                        )
                    )
        elif r.resource_type in (
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        ):
            yield from (
                (m, r.urn) for m in _description_problem("description", r.props.get("description"), RULE_DESCRIPTION)
            )


def _description_problem(key: str, value: Any, allowed: re.Pattern[str]) -> Iterable[str]:
    if not isinstance(value, str):
        return
    if len(value) > MAX_DESCRIPTION:
        yield f"{key} is {len(value)} characters; AWS allows {MAX_DESCRIPTION}"
    bad = sorted({c for c in value if not allowed.fullmatch(c)})
    if bad:
        yield (
            f"{key} {value!r} has {''.join(bad)!r}, which AWS refuses in security-group descriptions: use letters, "
            "digits, spaces and ._-:/()#,@[]+=;{}!$*"
        )


def _security_group_rule_quota(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        if r.resource_type != "aws:ec2/securityGroup:SecurityGroup":
            continue
        for direction in ("ingress", "egress"):
            count = 0
            for rule in _rule_entries(r.props.get(direction)):
                # Each CIDR and each referenced group is one rule (docs/reference.md#security-groups).
                count += len(rule.get("cidrBlocks") or []) + len(rule.get("ipv6CidrBlocks") or [])
                count += len(rule.get("securityGroups") or []) + len(rule.get("prefixListIds") or [])
                count += 1 if rule.get("self") else 0
            if count > MAX_RULES_PER_GROUP:
                yield (
                    f"{count} {direction} rules; a security group takes {MAX_RULES_PER_GROUP} by AWS's default quota",
                    r.urn,
                )


# ----------------------------------------------------------------- load balancers


def _listener_rules_quota(resources: Sequence[PolicyResource]) -> Violations:
    listeners = {
        r.urn: r for r in resources if r.resource_type in ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
    }
    balancer_of = {
        urn: next((d.urn for d in listener.dependencies if "loadBalancer:LoadBalancer" in d.resource_type), urn)
        for urn, listener in listeners.items()
    }
    rules = Counter(
        balancer_of[d.urn]
        for r in resources
        if r.resource_type in ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
        for d in r.dependencies
        if d.urn in listeners
    )
    for balancer, count in rules.items():
        if count > MAX_RULES_PER_LOAD_BALANCER:
            yield (
                f"{count} listener rules; an Application Load Balancer takes {MAX_RULES_PER_LOAD_BALANCER} by AWS's "
                "default quota",
                balancer,
            )


def _target_group_ranges(resources: Sequence[PolicyResource]) -> Violations:
    bounds = {"interval": (5, 300), "timeout": (2, 120), "healthyThreshold": (2, 10), "unhealthyThreshold": (2, 10)}
    for r in resources:
        if r.resource_type not in ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"):
            continue
        check = r.props.get("healthCheck") or {}
        problems = [_outside(f"healthCheck.{key}", check.get(key), low, high) for key, (low, high) in bounds.items()]
        problems.append(_outside("deregistrationDelay", r.props.get("deregistrationDelay"), 0, 3600))
        yield from ((p, r.urn) for p in problems if p)


# ---------------------------------------------------------------------- CloudWatch


def _dashboard_limits(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        if r.resource_type != "aws:cloudwatch/dashboard:Dashboard":
            continue
        name = r.props.get("dashboardName")
        if isinstance(name, str) and not DASHBOARD_NAME.fullmatch(name):
            yield f"dashboardName {name!r}: AWS allows letters, digits, - and _ (up to 255)", r.urn
        body = r.props.get("dashboardBody")
        if not isinstance(body, str):
            continue
        widgets = json.loads(body).get("widgets", [])
        if len(widgets) > MAX_DASHBOARD_WIDGETS:
            yield f"{len(widgets)} widgets; a dashboard holds {MAX_DASHBOARD_WIDGETS}", r.urn
        counts = [len(w.get("properties", {}).get("metrics", [])) for w in widgets]
        if sum(counts) > MAX_DASHBOARD_METRICS:
            yield f"{sum(counts)} metrics; a dashboard holds {MAX_DASHBOARD_METRICS}", r.urn
        if any(c > MAX_WIDGET_METRICS for c in counts):
            yield f"a widget has {max(counts)} metrics; AWS allows {MAX_WIDGET_METRICS}", r.urn


def _alarm_limits(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm":
            yield from ((m, r.urn) for m in _alarm_problems(r.props))


def _alarm_problems(props: Mapping[str, Any]) -> Iterable[str]:
    name = props.get("name")
    if isinstance(name, str) and not 1 <= len(name) <= MAX_ALARM_NAME:
        yield f"name is {len(name)} characters; AWS allows 1 to {MAX_ALARM_NAME}"
    description = props.get("alarmDescription")
    if isinstance(description, str) and len(description) > MAX_ALARM_DESCRIPTION:
        yield f"alarmDescription is {len(description)} characters; AWS allows {MAX_ALARM_DESCRIPTION}"
    for key in ("alarmActions", "okActions", "insufficientDataActions"):
        if len(props.get(key) or []) > MAX_ALARM_ACTIONS:
            yield f"{key} has {len(props[key])} actions; AWS allows {MAX_ALARM_ACTIONS} per state"
    queries = [q for q in props.get("metricQueries") or [] if isinstance(q, Mapping)]
    if queries:
        metrics = [q for q in queries if q.get("metric")]
        expressions = [q for q in queries if q.get("expression")]
        if len(metrics) > MAX_ALARM_METRICS:
            yield f"{len(metrics)} metrics in its math; an alarm references at most {MAX_ALARM_METRICS}"
        if len(expressions) > MAX_ALARM_EXPRESSIONS:
            yield f"{len(expressions)} expressions; an alarm holds at most {MAX_ALARM_EXPRESSIONS}"
        if sum(1 for q in queries if q.get("returnData")) != 1:
            yield "exactly one metric query must return data"
        for q in queries:
            if isinstance(q.get("id"), str) and not QUERY_ID.fullmatch(q["id"]):
                yield f"query id {q['id']!r}: a lowercase letter, then letters, digits and _"
            if len(str(q.get("expression") or "")) > MAX_EXPRESSION:
                yield f"query {q.get('id')!r}: expression longer than {MAX_EXPRESSION} characters"
        periods = {q["metric"].get("period") for q in metrics}
    else:
        periods = {props.get("period")}
    evaluations = props.get("evaluationPeriods")
    for period in periods:
        known = isinstance(period, int | float) and isinstance(evaluations, int | float)
        if known and period < 3600 and period * evaluations > MAX_ALARM_SECONDS:
            yield f"evaluates {period * evaluations:g} s of data; AWS allows {MAX_ALARM_SECONDS} s"


def _metric_queries(r: PolicyResource) -> Iterable[tuple[str, str, frozenset[str]]]:
    """(namespace, metric, dimension names) of every metric an alarm, a scaling policy or a
    dashboard reads."""
    props = r.props
    if r.resource_type == "aws:cloudwatch/metricAlarm:MetricAlarm":
        if props.get("metricName"):
            yield props.get("namespace", ""), props["metricName"], frozenset(props.get("dimensions") or {})
        for q in props.get("metricQueries") or []:
            m = q.get("metric") if isinstance(q, Mapping) else None
            if m:
                yield m.get("namespace", ""), m.get("metricName", ""), frozenset(m.get("dimensions") or {})
    elif r.resource_type == "aws:autoscaling/policy:Policy":
        spec = (props.get("targetTrackingConfiguration") or {}).get("customizedMetricSpecification") or {}
        for q in spec.get("metrics") or []:
            m = ((q or {}).get("metricStat") or {}).get("metric")
            if m:
                yield (
                    m.get("namespace", ""),
                    m.get("metricName", ""),
                    frozenset(d["name"] for d in m.get("dimensions") or []),
                )
    elif r.resource_type == "aws:cloudwatch/dashboard:Dashboard" and isinstance(props.get("dashboardBody"), str):
        for widget in json.loads(props["dashboardBody"]).get("widgets", []):
            for line in widget.get("properties", {}).get("metrics", []):
                names = [x for x in line if isinstance(x, str)]
                if len(names) >= 2:
                    yield names[0], names[1], frozenset(names[2::2])


def _metric_dimensions(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        for namespace, name, dimensions in _metric_queries(r):
            problem = _metrics.unpublished(namespace, name, dimensions)
            if problem:
                yield f"{problem}: this query has no data and watches nothing", r.urn


# ------------------------------------------------------------- events, groups, rollouts


def _event_detail_types(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        if r.resource_type != "aws:cloudwatch/eventRule:EventRule" or not isinstance(r.props.get("eventPattern"), str):
            continue
        pattern = json.loads(r.props["eventPattern"])
        if _events.AUTOSCALING_SOURCE not in (pattern.get("source") or []):
            continue
        for detail_type in pattern.get("detail-type") or []:
            if detail_type not in _events.AUTOSCALING_DETAIL_TYPES:
                yield (
                    f"detail-type {detail_type!r} is not one AWS sends for aws.autoscaling: the rule would never match",
                    r.urn,
                )


def _user_data_size(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        data = r.props.get("userData") if r.resource_type == "aws:ec2/launchTemplate:LaunchTemplate" else None
        if isinstance(data, str):
            size = len(base64.b64decode(data))
            if size > MAX_USER_DATA_BYTES:
                yield f"user data is {size} bytes; AWS allows {MAX_USER_DATA_BYTES} before base64", r.urn


def _group_limits(resources: Sequence[PolicyResource]) -> Violations:
    low, high = HEARTBEAT_TIMEOUT_RANGE
    for r in resources:
        if r.resource_type != "aws:autoscaling/group:Group":
            continue
        prefix = r.props.get("namePrefix")
        if isinstance(prefix, str) and len(prefix) > MAX_GROUP_NAME_PREFIX:
            yield f"namePrefix is {len(prefix)} characters; group names are 255 with Pulumi's suffix", r.urn
        for hook in r.props.get("initialLifecycleHooks") or []:
            problem = _outside("heartbeatTimeout", hook.get("heartbeatTimeout"), low, high)
            if problem:
                yield f"lifecycle hook {hook.get('name')!r}: {problem}", r.urn


def _refresh_limits(resources: Sequence[PolicyResource]) -> Violations:
    for r in resources:
        if not r.resource_type.endswith(":InstanceRefresh"):
            continue
        prefs = r.props.get("preferences") or {}
        alarms = (prefs.get("AlarmSpecification") or {}).get("Alarms") or []
        if len(alarms) > MAX_REFRESH_ALARMS:
            yield f"{len(alarms)} rollback alarms; an instance refresh takes {MAX_REFRESH_ALARMS}", r.urn
        problems = [
            _outside("CheckpointDelay", prefs.get("CheckpointDelay"), 0, MAX_CHECKPOINT_DELAY),
            _outside("MinHealthyPercentage", prefs.get("MinHealthyPercentage"), 0, 100),
            _outside("MaxHealthyPercentage", prefs.get("MaxHealthyPercentage"), 100, 200),
        ]
        yield from ((p, r.urn) for p in problems if p)


def _schedules(resources: Sequence[PolicyResource]) -> Violations:
    from infra.config import cron_problem, time_zone_problem

    for r in resources:
        if r.resource_type != "aws:autoscaling/schedule:Schedule":
            continue
        recurrence, zone = r.props.get("recurrence"), r.props.get("timeZone")
        if isinstance(recurrence, str) and (problem := cron_problem(recurrence)):
            yield f"recurrence {problem}", r.urn
        if isinstance(zone, str) and (problem := time_zone_problem(zone)):
            yield f"timeZone {problem}", r.urn


def _rule(name: str, description: str, check: Any) -> StackValidationPolicy:
    from infra.policies import stack_rule

    return stack_rule(name, description, check)


def rules() -> list[ResourceValidationPolicy | StackValidationPolicy]:
    """The rules, each mandatory: AWS would refuse what they flag, or accept it and watch nothing."""
    return [
        _rule(
            "aws-security-group-descriptions",
            "Security group and rule descriptions use only characters AWS accepts.",
            _security_group_descriptions,
        ),
        _rule(
            "aws-security-group-rule-quota", "Security groups stay within AWS's rule quota.", _security_group_rule_quota
        ),
        _rule(
            "aws-listener-rule-quota", "Load balancers stay within AWS's listener-rule quota.", _listener_rules_quota
        ),
        _rule("aws-target-group-ranges", "Target group settings are within AWS's ranges.", _target_group_ranges),
        _rule(
            "aws-dashboard-limits",
            "Dashboards have a valid name and fit AWS's widget and metric quotas.",
            _dashboard_limits,
        ),
        _rule("aws-alarm-limits", "Alarms fit AWS's limits on names, actions and metric math.", _alarm_limits),
        _rule(
            "aws-metric-dimensions",
            "Every metric is read under dimensions AWS publishes it under.",
            _metric_dimensions,
        ),
        _rule("aws-event-detail-types", "Event rules wait for detail-types AWS sends.", _event_detail_types),
        _rule("aws-user-data-size", "User data fits AWS's 16 KB.", _user_data_size),
        _rule(
            "aws-group-limits", "Auto Scaling group names and lifecycle hooks are within AWS's limits.", _group_limits
        ),
        _rule("aws-refresh-limits", "Instance refresh preferences are within AWS's ranges.", _refresh_limits),
        _rule("aws-schedules", "Scheduled actions use valid cron fields and canonical time zones.", _schedules),
    ]
