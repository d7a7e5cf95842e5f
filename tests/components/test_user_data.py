"""The instances' user data: valid cloud-config, clean shell, no secret inside."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.ec2 import user_data
from components.ec2.gpu_fleet import TERMINATION_HOOK
from infra.plan import Plan

SHELLCHECK = Path(sys.executable).parent / "shellcheck"
needs_cloud_init = pytest.mark.skipif(
    shutil.which("cloud-init") is None and not os.environ.get("CI"),
    reason="cloud-init (Debian package) not installed; `make test` installs it",
)


def spec(**changes: object) -> user_data.BootSpec:
    values: dict[str, object] = dict(
        model="chat",
        region="us-east-1",
        engine_name="tgi",
        engine_image="ghcr.io/huggingface/text-generation-inference:3.3.7",
        engine_args=["--model-id", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8080"],
        engine_port=8080,
        readiness_path="/health",
        shm_size_gib=1,
        graceful_stop_seconds=90,
        model_cache_dir="/data",
        token_env="HF_TOKEN",
        engine_entrypoint="text-generation-launcher",
        download_entrypoint="text-generation-server",
        download_args=["download-weights", "meta-llama/Llama-3.1-8B-Instruct"],
        worker_image="123456789012.dkr.ecr.us-east-1.amazonaws.com/llm-serving-worker:0.1.0",
        worker_env={"WORKER_MODEL": "chat"},
        worker_stop_seconds=110,
        token_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-abc",
        launch_hook_name="llm-serving-launch",
        ready_timeout_seconds=900,
        boot_deadline_seconds=1800,
        log_groups={"engine": "/e", "worker": "/w", "boot": "/b"},
    )
    values.update(changes)
    return user_data.BootSpec(**values)  # type: ignore[arg-type]


def cloud_init_schema(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "user-data.yaml"
    path.write_text(text)
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)], capture_output=True, text=True, timeout=60
    )


def plan_user_data(plan: Plan) -> list[str]:
    import base64

    return [
        base64.b64decode(lt.input("userData")).decode() for lt in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    ]


@needs_cloud_init
def test_rendered_user_data_passes_cloud_init_schema(tmp_path: Path, dev_plan: Plan, prod_plan: Plan) -> None:
    documents = plan_user_data(dev_plan) + plan_user_data(prod_plan)
    assert len(documents) == 3
    for text in documents:
        result = cloud_init_schema(tmp_path, text)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Valid cloud-config" in result.stdout


@needs_cloud_init
def test_cloud_init_schema_check_rejects_a_broken_document(tmp_path: Path) -> None:
    broken = user_data.render(spec()).replace("write_files:", "write_files: 7\nbogus:", 1)
    assert cloud_init_schema(tmp_path, broken).returncode != 0


def test_shell_parts_pass_shellcheck(tmp_path: Path) -> None:
    paths = []
    for name, script in user_data.shell_scripts().items():
        path = tmp_path / Path(name).name
        path.write_text(script)
        paths.append(str(path))
    result = subprocess.run([str(SHELLCHECK), "--severity=style", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_s3_download_benchmark_passes_shellcheck() -> None:
    # benchmarks/s3_download.sh runs the boot's copy command on a fleet instance: keep it sound.
    script = Path(__file__).parents[2] / "benchmarks" / "s3_download.sh"
    result = subprocess.run([str(SHELLCHECK), "--severity=style", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_shellcheck_catches_a_broken_script(tmp_path: Path) -> None:
    path = tmp_path / "bad.sh"
    path.write_text("#!/bin/bash\nrm -rf $dir/*\n")
    assert subprocess.run([str(SHELLCHECK), str(path)], capture_output=True).returncode != 0


S3_WEIGHTS = {"weights_bucket": "weights-x", "weights_prefix": "org/model/abc/", "weights_marker": "done.json"}


@pytest.mark.parametrize("from_s3", [False, True], ids=["hub", "s3"])
def test_the_scripts_in_the_document_are_the_checked_ones(from_s3: bool) -> None:
    document = yaml.safe_load(user_data.render(spec(**(S3_WEIGHTS if from_s3 else {}))))
    files = {f["path"]: f["content"] for f in document["write_files"]}
    checked = user_data.shell_scripts()
    source = "S3" if from_s3 else "the Hub"
    assert files[user_data.BOOT_SCRIPT_PATH] == checked[f"{user_data.BOOT_SCRIPT_PATH} (weights from {source})"]
    for path in (user_data.RUN_ENGINE_PATH, user_data.RUN_WORKER_PATH):
        assert files[path] == checked[path]


def test_staged_weights_need_no_token_and_no_hub_in_the_user_data() -> None:
    text = user_data.render(spec(**S3_WEIGHTS, token_secret_arn=None))
    assert "secretsmanager" not in text
    assert "huggingface.co" not in text
    assert "download.args" not in text
    assert "WEIGHTS_BUCKET=weights-x" in text


def test_token_is_fetched_at_boot_never_embedded() -> None:
    text = user_data.render(spec())
    assert "aws secretsmanager get-secret-value" in text
    assert "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf-abc" in text
    assert "hf_" not in text


def test_engine_uses_gpus_and_host_networking_and_restarts() -> None:
    document = yaml.safe_load(user_data.render(spec()))
    files = {f["path"]: f["content"] for f in document["write_files"]}
    assert "--gpus all" in files[user_data.RUN_ENGINE_PATH]
    assert "--network host" in files[user_data.RUN_ENGINE_PATH]
    assert "--network host" in files[user_data.RUN_WORKER_PATH]
    for unit in ("llm-engine.service", "llm-worker.service"):
        assert "Restart=always" in files[f"/etc/systemd/system/{unit}"]


def test_worker_stops_before_the_engine_so_it_can_drain() -> None:
    document = yaml.safe_load(user_data.render(spec()))
    files = {f["path"]: f["content"] for f in document["write_files"]}
    worker = files["/etc/systemd/system/llm-worker.service"]
    assert "After=docker.service llm-engine.service" in worker
    assert "docker stop --time 110 llm-worker" in worker


def test_cloudwatch_agent_takes_both_containers_logs_and_emf() -> None:
    config = user_data.cloudwatch_agent_config(spec())
    files = {f["file_path"]: f["log_group_name"] for f in config["logs"]["logs_collected"]["files"]["collect_list"]}
    assert files == {
        "/var/log/llm-serving/engine.log": "/e",
        "/var/log/llm-serving/worker.log": "/w",
        "/var/log/llm-serving/boot.log": "/b",
    }
    assert config["logs"]["metrics_collected"] == {"emf": {}}


def test_boot_env_survives_values_with_spaces_and_quotes(tmp_path: Path) -> None:
    text = user_data._sourced_env({"A": "x y", "B": "it's"})
    env_file = tmp_path / "env"
    env_file.write_text(text)
    out = subprocess.run(
        ["bash", "-c", f'source {env_file}; printf \'%s|%s\' "$A" "$B"'], capture_output=True, text=True, check=True
    ).stdout
    assert out == "x y|it's"


def test_env_values_with_newlines_are_refused() -> None:
    with pytest.raises(ValueError, match="newline"):
        user_data.render(spec(worker_env={"WORKER_MODEL": "a\nb"}))


def test_plan_user_data_configures_the_worker_for_its_model(prod_plan: Plan) -> None:
    for text in plan_user_data(prod_plan):
        document = yaml.safe_load(text)
        env = next(f["content"] for f in document["write_files"] if f["path"].endswith("worker.env"))
        values = dict(line.split("=", 1) for line in env.splitlines())
        assert values["WORKER_LIFECYCLE_HOOK_NAME"] == TERMINATION_HOOK
        assert values["WORKER_QUEUE_URL"].startswith("https://sqs.us-east-1.amazonaws.com/123456789012/")
        assert values["WORKER_QUEUE_URL"].split("/")[-1].startswith(values["WORKER_MODEL"] + "-queue")


def test_worker_in_flight_follows_the_engine(prod_plan: Plan) -> None:
    in_flight = {}
    for text in plan_user_data(prod_plan):
        document = yaml.safe_load(text)
        env = next(f["content"] for f in document["write_files"] if f["path"].endswith("worker.env"))
        values = dict(line.split("=", 1) for line in env.splitlines())
        in_flight[values["WORKER_ENGINE"]] = int(values["WORKER_MAX_IN_FLIGHT"])
    # maxConcurrentRequests 64 for both: TGI at its admission limit, vLLM 25% above its batch.
    assert in_flight == {"tgi": 64, "vllm": 80}
