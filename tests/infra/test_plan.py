"""The offline plan harness: the real program under mocks, and its JSON contract."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pytest

from infra import plan as plan_module
from infra.config import ConfigError
from infra.plan import (
    COMPUTED,
    SECRET,
    DuplicateUrnError,
    StackFileError,
    read_stack_config,
    render,
    run_plan,
    run_program,
)


def test_json_has_exactly_the_contract_keys(dev_plan) -> None:  # type: ignore[no-untyped-def]
    document = dev_plan.to_json()
    assert list(document) == ["project", "stack", "resources", "outputs", "findings"]
    assert (document["project"], document["stack"]) == ("llm-serving", "dev")
    assert [f["level"] for f in document["findings"]] == ["advisory"]
    for finding in document["findings"]:
        assert list(finding) == ["policy", "level", "urn", "message"]
    for resource in document["resources"]:
        assert list(resource) == ["urn", "type", "name", "parent", "inputs"]


def test_resources_are_sorted_by_urn(dev_plan) -> None:  # type: ignore[no-untyped-def]
    urns = [r["urn"] for r in dev_plan.to_json()["resources"]]
    assert urns == sorted(urns)
    assert len(urns) == len(set(urns))


def test_inputs_use_wire_names(dev_plan) -> None:  # type: ignore[no-untyped-def]
    queue = dev_plan.named("aws:sqs/queue:Queue", "chat-queue")
    assert queue.inputs["visibilityTimeoutSeconds"] == 300
    assert "visibility_timeout_seconds" not in queue.inputs


def test_values_known_only_after_deploy_show_as_computed(dev_plan) -> None:  # type: ignore[no-untyped-def]
    document = dev_plan.to_json()
    subnet = next(
        r for r in document["resources"] if r["name"] == "network-private-0" and r["type"] == "aws:ec2/subnet:Subnet"
    )
    assert subnet["inputs"]["vpcId"] == COMPUTED
    assert document["outputs"]["vpcId"] == COMPUTED
    assert subnet["inputs"]["cidrBlock"] == "10.40.128.0/18"


def test_two_runs_give_byte_identical_json() -> None:
    assert run_plan("dev").json_text() == run_plan("dev").json_text()


def test_two_stacks_plan_in_one_process() -> None:
    dev, prod = run_plan("dev"), run_plan("prod")
    assert dev.stack == "dev" and prod.stack == "prod"
    assert all(":dev::" in r.urn for r in dev.resources)
    assert all(":prod::" in r.urn for r in prod.resources)
    assert len(prod.resources) > len(dev.resources)


def test_a_config_error_stops_before_any_resource_is_declared() -> None:
    seen: list[str] = []

    class Spy(pulumi.ComponentResource):
        def __init__(self) -> None:
            seen.append("declared")
            super().__init__("test:Spy", "spy")

    import infra.program

    original = infra.program.Network
    infra.program.Network = lambda *a, **k: Spy()  # type: ignore[assignment,misc]
    try:
        with pytest.raises(ConfigError):
            run_plan("dev", overrides={"llm-serving:modles": {}})
    finally:
        infra.program.Network = original  # type: ignore[misc]
    assert seen == []


def test_secrets_show_as_secret_and_never_in_plain_text(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: llm-serving\nruntime: python\n")
    stack = (Path(__file__).parents[2] / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.sec.yaml").write_text(
        stack + "  llm-serving:huggingFaceToken:\n    secure: v1:AAAAencrypted==\n"
    )
    plan = run_plan("sec", project_dir=tmp_path)
    text = plan.json_text()
    version = next(
        r for r in plan.to_json()["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"
    )
    assert version["inputs"]["secretString"] == SECRET
    assert "offline-plan-secret-placeholder" not in text
    assert "AAAAencrypted" not in text


def test_secure_values_are_passed_as_secret_keys(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: demo\n")
    (tmp_path / "Pulumi.s.yaml").write_text(
        "config:\n  demo:token:\n    secure: abc\n  count: 3\n  aws:region: eu-west-1\n"
    )
    values, secrets = read_stack_config("s", tmp_path)
    assert secrets == ["demo:token"]
    assert values == {"demo:token": "offline-plan-secret-placeholder", "demo:count": "3", "aws:region": "eu-west-1"}


def test_a_missing_stack_names_the_stacks_there() -> None:
    with pytest.raises(StackFileError, match=r"stacks here: dev, prod"):
        run_plan("staging")


def test_any_stack_file_in_the_project_can_be_planned(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: llm-serving\n")
    stack = (Path(__file__).parents[2] / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.qa.yaml").write_text(stack.replace("us-east-1", "eu-west-1"))
    plan = run_plan("qa", project_dir=tmp_path)
    s3 = plan.named("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3")
    assert s3.input("serviceName") == "com.amazonaws.eu-west-1.s3"


def test_resources_created_inside_apply_are_captured() -> None:
    def program() -> None:
        queue = aws.sqs.Queue("q")
        queue.arn.apply(lambda arn: aws.sqs.Queue("inner", name=arn.rsplit(":", 1)[-1] + "-x"))

    plan = run_program(program)
    assert sorted(r.name for r in plan.resources) == ["inner", "q"]


def test_an_invoke_without_an_answer_fails_loudly() -> None:
    def program() -> None:
        aws.ec2.get_ami_output(owners=["amazon"], most_recent=True)

    with pytest.raises(Exception, match="no answer for the invoke aws:ec2/getAmi:getAmi"):
        run_program(program)


def test_render_hides_secrets_marks_unknowns_and_tidies_numbers() -> None:
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cret"}
    assert render({"a": secret, "b": 3.0, "c": 2.5, "d": "x", "e": ["y"]}, frozenset({"x"})) == {
        "a": SECRET,
        "b": 3,
        "c": 2.5,
        "d": COMPUTED,
        "e": ["y"],
    }


def test_plan_json_parses(dev_plan) -> None:  # type: ignore[no-untyped-def]
    assert json.loads(dev_plan.json_text())["stack"] == "dev"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_values_unknown_until_deploy_print_as_computed_not_none(stack: str, request: pytest.FixtureRequest) -> None:
    # The load balancer's DNS name exists only after `pulumi up`: the endpoint and each model's
    # URL derive from it, so they are unknown at plan time, as in `pulumi preview`.
    outputs = request.getfixturevalue(f"{stack}_plan").to_json()["outputs"]
    assert outputs["endpoint"] == COMPUTED
    # (SageMaker models have no URL on the load balancer: they are called by endpoint name.)
    assert {m["url"] for m in outputs["models"].values() if "endpointName" not in m} == {COMPUTED}
    assert "None" not in json.dumps(outputs)


def test_two_resources_with_one_urn_are_refused() -> None:
    def program() -> None:
        aws.sqs.Queue("q")
        aws.sqs.Queue("q")

    with pytest.raises(
        DuplicateUrnError,
        match=r"two resources would have the URN urn:pulumi:test::llm-serving::pulumi:pulumi:Stack\$"
        r"aws:sqs/queue:Queue::q$",
    ):
        run_program(program)


def test_a_duplicate_urn_names_the_config_section_it_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever the config checks miss, the plan still refuses what Pulumi would, naming the key.
    program = tmp_path / "program.py"
    program.write_text(
        "from components.network import Network, NetworkArgs\n"
        "Network('network', NetworkArgs(interface_endpoints=('ecr.api', 'ecr-api')))\n"
    )
    monkeypatch.setattr(plan_module, "PROGRAM", program)
    with pytest.raises(ConfigError) as e:
        run_plan("dev")
    [line] = e.value.lines
    assert line.startswith(
        "llm-serving:network: two entries here would make two resources with one URN (urn:pulumi:dev::llm-serving::"
        "llm-serving:aws:Network$aws:ec2/vpcEndpoint:VpcEndpoint::network-ecr-api); Pulumi refuses the second"
    )
