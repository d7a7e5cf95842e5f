"""A SageMaker model in the committed prod stack (``assist``) and beside an EC2 model in one
test stack: what the plan declares for it, checked against what AWS and the engines need."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from components.sagemaker import alarms as endpoint_alarms
from components.sagemaker.endpoint import INVOKE_ACTIONS, VARIANT_NAME
from components.sagemaker.schedule import aws_cron
from infra import images
from infra.plan import Plan, PlannedResource, run_plan
from model_server.engines import ENGINES
from model_server.worker.sagemaker import IAM_ACTIONS
from model_server.worker.settings import WorkerSettings
from tests.helpers import ROOT

STACKS = ROOT / "tests" / "stacks"


def under(plan: Plan, model: str, type_: str) -> list[PlannedResource]:
    return [r for r in plan.of_type(type_) if r.name.startswith(f"{model}-")]


def test_a_stack_with_an_ec2_and_a_sagemaker_model_plans_with_no_mandatory_finding(mixed_plan: Plan) -> None:
    assert [f for f in mixed_plan.findings if f["level"] == "mandatory"] == []
    models = mixed_plan.outputs["models"]
    assert "autoScalingGroupNames" in models["chat"] and "endpointName" in models["summarize"]
    assert len(under(mixed_plan, "summarize", "aws:sagemaker/endpoint:Endpoint")) == 1
    assert under(mixed_plan, "summarize", "aws:autoscaling/group:Group") == []


def test_no_hugging_face_token_anywhere_in_a_sagemaker_models_resources(prod_plan: Plan) -> None:
    token_arn = prod_plan.outputs["huggingFaceTokenSecretArn"]
    text = json.dumps([r.inputs for r in prod_plan.resources if r.name.startswith("assist-")])
    assert prod_plan.named("aws:sagemaker/model:Model", "assist-model")
    for needle in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "huggingFaceToken", "secretsmanager", str(token_arn)):
        assert needle not in text, needle


def test_the_image_is_awss_tgi_container_for_the_stacks_region(prod_plan: Plan) -> None:
    model = prod_plan.named("aws:sagemaker/model:Model", "assist-model")
    expected = images.uri(images.AwsImage(*ENGINES["tgi"].aws_image), "us-east-1")
    assert model.input("primaryContainer")["image"] == expected
    assert expected.startswith("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:")


def test_the_model_loads_its_staged_weights_from_s3_with_no_network(prod_plan: Plan) -> None:
    model = prod_plan.named("aws:sagemaker/model:Model", "assist-model")
    assert model.input("enableNetworkIsolation") is True
    container = model.input("primaryContainer")
    [source] = container["modelDataSource"]["s3DataSources"]
    assert source["s3DataType"] == "S3Prefix" and source["compressionType"] == "None"
    assert source["s3Uri"] == prod_plan.outputs["models"]["assist"]["weights"]["uri"]
    env = container["environment"]
    assert env["HF_MODEL_ID"] == "/opt/ml/model" and env["HF_HUB_OFFLINE"] == "1"
    assert env["SM_NUM_GPUS"] == "1"  # ml.g6e.xlarge: one L40S
    assert "HF_MODEL_REVISION" not in env
    assert (env["MAX_INPUT_TOKENS"], env["MAX_TOTAL_TOKENS"]) == ("4096", "8192")
    assert model.input("vpcConfig")["subnets"] == prod_plan.outputs["privateSubnetIds"]


def test_the_variant_is_fixed_routed_to_the_least_busy_and_given_time_to_load(prod_plan: Plan) -> None:
    config = prod_plan.named("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "assist-config")
    [variant] = config.input("productionVariants")
    assert variant["variantName"] == VARIANT_NAME
    assert variant["routingConfigs"] == [{"routingStrategy": "LEAST_OUTSTANDING_REQUESTS"}]
    assert variant["instanceType"] == "ml.g6e.xlarge" and variant["initialInstanceCount"] == 2
    startup = variant["containerStartupHealthCheckTimeoutInSeconds"]
    download = variant["modelDataDownloadTimeoutInSeconds"]
    assert 60 <= download <= 3600 and 60 <= startup <= 3600
    assert 300 < startup < 600  # the EC2 estimate for 8B from S3 and ECR: about 6 minutes
    assert variant["inferenceAmiVersion"] == "al2-ami-sagemaker-inference-gpu-3-1"
    # ml.g6e has local NVMe, which its hardware encrypts: SageMaker refuses a key there.
    assert "kmsKeyArn" not in config.inputs
    # Named by its content: a change is a new configuration, created before the old one goes.
    assert re.fullmatch(r"llm-prod-assist-[0-9a-f]{8}", config.input("name"))
    model = prod_plan.named("aws:sagemaker/model:Model", "assist-model")
    assert variant["modelName"] == model.input("name") != config.input("name")


def test_deployments_shift_a_canary_and_roll_back_on_the_endpoints_alarms(prod_plan: Plan) -> None:
    endpoint = prod_plan.named("aws:sagemaker/endpoint:Endpoint", "assist-endpoint")
    assert endpoint.input("name") == "llm-prod-assist-g6e-xlarge"
    deployment = endpoint.input("deploymentConfig")
    routing = deployment["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    assert routing["type"] == "CANARY"
    assert routing["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 50}
    rollback = {a["alarmName"] for a in deployment["autoRollbackConfiguration"]["alarms"]}
    declared = {a.input("name") for a in under(prod_plan, "assist", "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert rollback == set(endpoint_alarms.alarm_names("llm-prod-assist-").values())
    assert rollback <= declared


def test_the_alarms_watch_the_real_endpoint_and_read_latency_in_microseconds(prod_plan: Plan) -> None:
    endpoint = prod_plan.named("aws:sagemaker/endpoint:Endpoint", "assist-endpoint")
    variant = {"EndpointName": endpoint.outputs["name"], "VariantName": VARIANT_NAME}
    latency = prod_plan.named("aws:cloudwatch/metricAlarm:MetricAlarm", "assist-latency")
    assert latency.input("dimensions") == variant
    assert latency.input("metricName") == "ModelLatency"
    assert latency.input("threshold") == 150 * 1_000_000  # maxGenerationSeconds 300 / 2, in µs
    errors = prod_plan.named("aws:cloudwatch/metricAlarm:MetricAlarm", "assist-errors")
    [metric] = [q["metric"] for q in errors.input("metricQueries") if q.get("metric")]
    assert metric["dimensions"] == variant and metric["metricName"] == "Invocation5XXErrors"
    names = set(prod_plan.outputs["models"]["assist"]["alarmNames"]) - {"<computed>"}
    assert set(endpoint_alarms.alarm_names("llm-prod-assist-").values()) <= names
    queue_alarms = {a.name for a in under(prod_plan, "assist", "aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {"assist-queue-age", "assist-dead-letters", "assist-failed-results", "assist-too-few-instances"} <= (
        queue_alarms
    )


def test_the_variant_scales_on_concurrency_and_backlog_within_capacity(prod_plan: Plan) -> None:
    [target] = under(prod_plan, "assist", "aws:appautoscaling/target:Target")
    assert target.input("resourceId") == f"endpoint/llm-prod-assist-g6e-xlarge/variant/{VARIANT_NAME}"
    assert (target.input("minCapacity"), target.input("maxCapacity")) == (2, 4)
    policies = {
        p.name: p.input("targetTrackingScalingPolicyConfiguration")
        for p in under(prod_plan, "assist", "aws:appautoscaling/policy:Policy")
    }
    concurrency = policies["assist-concurrency"]["predefinedMetricSpecification"]["predefinedMetricType"]
    assert concurrency == "SageMakerVariantConcurrentRequestsPerModelHighResolution"
    backlog = policies["assist-backlog"]["customizedMetricSpecification"]["metrics"]
    assert {m["id"] for m in backlog} == {"waiting", "instances", "backlog"}


def test_a_schedule_keeps_one_instance_at_night_in_the_models_zone(mixed_plan: Plan) -> None:
    actions = {a.name: a for a in under(mixed_plan, "summarize", "aws:appautoscaling/scheduledAction:ScheduledAction")}
    off, on = actions["summarize-off"], actions["summarize-on"]
    assert off.input("schedule") == "cron(0 19 ? * 2-6 *)"  # Monday to Friday, AWS counts Sunday as 1
    assert off.input("scalableTargetAction") == {"minCapacity": 1, "maxCapacity": 1}
    assert on.input("scalableTargetAction") == {"minCapacity": 1, "maxCapacity": 3}
    assert off.input("timezone") == "Europe/Berlin"
    too_few = mixed_plan.named("aws:cloudwatch/metricAlarm:MetricAlarm", "summarize-too-few-instances")
    assert too_few.input("threshold") == 1  # the night's one instance pages nobody


@pytest.mark.parametrize(
    ("unix", "aws"),
    [
        ("0 19 * * 1-5", "cron(0 19 ? * 2-6 *)"),
        ("30 7 * * *", "cron(30 7 * * ? *)"),
        ("0 8 1 * *", "cron(0 8 1 * ? *)"),
        ("0 6 * * 0,6", "cron(0 6 ? * 1,7 *)"),
        ("*/15 * * * 1-5/2", "cron(*/15 * ? * 2-6/2 *)"),
    ],
)
def test_unix_crons_become_application_auto_scaling_expressions(unix: str, aws: str) -> None:
    assert aws_cron(unix) == aws


def test_a_cron_naming_both_day_fields_has_no_aws_form() -> None:
    with pytest.raises(ValueError, match="both a day of the month and a day of the week"):
        aws_cron("0 8 1 * 1")


def test_the_worker_service_serves_the_queue_from_the_endpoint(prod_plan: Plan) -> None:
    [task] = under(prod_plan, "assist", "aws:ecs/taskDefinition:TaskDefinition")
    [container] = json.loads(task.input("containerDefinitions"))
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["WORKER_ENGINE"] == "sagemaker"
    assert env["WORKER_ENDPOINT_NAME"] == "llm-prod-assist-g6e-xlarge"
    assert env["WORKER_MODEL"] == "assist"
    assert int(env["WORKER_MAX_IN_FLIGHT"]) == int(env["WORKER_MAX_IN_FLIGHT_PER_INSTANCE"]) * 4
    assert env["WORKER_EMF_ENDPOINT"] == "stdout"
    assert "HF_TOKEN" not in env
    drain = float(WorkerSettings.model_fields["drain_seconds"].default)
    assert container["stopTimeout"] == 120 > drain
    assert container["readonlyRootFilesystem"] is True
    assert task.input("requiresCompatibilities") == ["FARGATE"]
    [service] = under(prod_plan, "assist", "aws:ecs/service:Service")
    assert service.input("desiredCount") == 2  # production: workerTasks 2
    assert service.input("networkConfiguration")["assignPublicIp"] is False


def test_the_workers_role_may_call_its_endpoint_only(prod_plan: Plan) -> None:
    assert set(INVOKE_ACTIONS) == set(IAM_ACTIONS)
    policy = json.loads(prod_plan.named("aws:iam/rolePolicy:RolePolicy", "assist-worker-endpoint").input("policy"))
    [statement] = policy["Statement"]
    assert set(statement["Action"]) == set(IAM_ACTIONS)
    endpoint = prod_plan.named("aws:sagemaker/endpoint:Endpoint", "assist-endpoint")
    assert statement["Resource"] == [endpoint.outputs["arn"]]


def test_a_vllm_model_on_sagemaker_gets_awss_vllm_container_and_its_flags() -> None:
    models = yaml.safe_load((STACKS / "Pulumi.mixed.yaml").read_text())["config"]["llm-serving:models"]
    models["summarize"]["engine"] = "vllm"
    plan = run_plan("mixed", project_dir=STACKS, overrides={"llm-serving:models": models})
    model = plan.named("aws:sagemaker/model:Model", "summarize-model")
    container = model.input("primaryContainer")
    assert container["image"] == images.uri(images.AwsImage(*ENGINES["vllm"].aws_image), "us-east-1")
    env = container["environment"]
    assert env["SM_VLLM_MODEL"] == "/opt/ml/model" and env["SM_VLLM_SERVED_MODEL_NAME"] == "summarize"
    assert env["SM_VLLM_MAX_MODEL_LEN"] == "8192" and env["HF_HUB_OFFLINE"] == "1"
    config = plan.named("aws:sagemaker/endpointConfiguration:EndpointConfiguration", "summarize-config")
    assert config.input("productionVariants")[0]["inferenceAmiVersion"] == "al2023-ami-sagemaker-inference-gpu-4-1"
