"""User data of a GPU instance: a cloud-config document, rendered from plain values.

What it sets up (every boot, through systemd, so warm-pool instances that start again do
the right thing):
- ``llm-serving-boot.service`` (oneshot): waits for the instance's target lifecycle state,
  reads the Hugging Face token from Secrets Manager into a root-only file on tmpfs (never
  into user data), pulls the engine and worker images (backing off, with jitter, when a
  registry refuses), gets the weights into the instance's cache (from the Hub, or from the
  weights bucket once its marker is there, checked against it, and only when the disk does
  not already hold that copy), then either
  completes the launch lifecycle action and stops (an instance entering the warm pool) or
  starts the engine, waits for its readiness path, starts the worker and completes the
  launch lifecycle action (an instance entering service). While it works it sends the
  launch hook a heartbeat every minute, up to its deadline. Any failure abandons the
  launch, so Auto Scaling replaces the instance.
- ``llm-engine.service``: the engine container on all GPUs, host networking, restarted on
  failure.
- ``llm-worker.service``: the queue worker container, host networking (it must reach
  IMDSv2 with hop limit 1 and the CloudWatch agent on localhost), restarted on failure,
  stopped before the engine so it can drain.
- the CloudWatch agent: both containers' logs and the boot log to CloudWatch Logs, and the
  worker's Embedded Metric Format documents on localhost:25888.

Nothing here imports pulumi: the renderer is tested with cloud-init's schema check and
shellcheck.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components import _ecr

BOOT_SCRIPT_PATH = "/usr/local/sbin/llm-serving-boot"
RUN_ENGINE_PATH = "/usr/local/sbin/llm-serving-run-engine"
RUN_WORKER_PATH = "/usr/local/sbin/llm-serving-run-worker"
CONFIG_DIR = "/etc/llm-serving"
LOG_DIR = "/var/log/llm-serving"
CACHE_DIR = "/opt/llm-serving/cache"
RUN_DIR = "/run/llm-serving"
"""tmpfs, root only: what must never reach the disk (the token)."""
SECRET_ENV_PATH = f"{RUN_DIR}/engine.env"
"""tmpfs, mode 0600: the token lives only in memory and only for root."""
CLOUDWATCH_AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/llm-serving.json"
EMF_PORT = 25888
"""The CloudWatch agent's Embedded Metric Format listener (its documented default)."""
READY_POLL_SECONDS = 5
LIFECYCLE_STATE_WAIT_SECONDS = 120
"""How long the boot waits for ``autoscaling/target-lifecycle-state`` to appear in instance
metadata: it is not there at the first instant of a launch."""
HEARTBEAT_SECONDS = 60
"""How often the boot tells the launch hook it is still preparing."""
PULL_ATTEMPTS = 6
PULL_BACKOFF_SECONDS = 15
"""Image pulls retry after 15, 30, 60, 120, 240 s plus up to as much again at random: a
registry that rate-limits (anonymous Docker Hub pulls behind one NAT address) is not
stormed by every instance retrying in step."""


@dataclass(frozen=True, kw_only=True)
class BootSpec:
    """Everything an instance needs to serve one model. Plain values (resolved outputs)."""

    model: str
    region: str
    engine_name: str
    engine_image: str
    engine_args: Sequence[str]
    engine_port: int
    readiness_path: str
    shm_size_gib: int
    graceful_stop_seconds: int
    model_cache_dir: str
    """Where the engine container expects its weights cache (mounted from CACHE_DIR)."""
    token_env: str
    engine_entrypoint: str
    """The program the engine container runs (``docker run --entrypoint``)."""
    download_entrypoint: str
    download_args: Sequence[str]
    """Fetch the weights from the Hugging Face Hub (when ``weights_bucket`` is None)."""
    worker_image: str
    worker_env: Mapping[str, str]
    """Environment of the worker container (WORKER_* variables, AWS_REGION)."""
    worker_stop_seconds: int
    """How long systemd waits for the worker to drain before killing it."""
    token_secret_arn: str | None
    """The Hugging Face token's secret; None when the weights come from S3 (no token needed)."""
    launch_hook_name: str
    ready_timeout_seconds: int
    """Longest the boot waits for the engine's readiness before abandoning the launch."""
    boot_deadline_seconds: int
    """Longest the boot keeps the launch hook alive with heartbeats; past it the hook times
    out and the launch is abandoned, even if the boot itself hangs."""
    weights_bucket: str | None = None
    """Copy the weights from this bucket (staged there, complete once the marker is there)
    instead of the Hub."""
    weights_prefix: str = ""
    """The model's ``<modelId>/<revision>/`` in ``weights_bucket``; also where the weights
    land under the model cache."""
    weights_marker: str = ""
    """The key, under ``weights_prefix``, whose presence says the copy is complete."""
    log_groups: Mapping[str, str] = field(default_factory=dict)
    """``engine``, ``worker``, ``boot`` -> CloudWatch log group names (their retention is
    set where they are declared: the agent has no right to change it)."""


def _env_file(values: Mapping[str, str]) -> str:
    """A systemd/docker env file: KEY=value lines, values without newlines."""
    for key, value in values.items():
        if "\n" in value or "\n" in key:
            raise ValueError(f"{key}: env values cannot contain newlines")
    return "".join(f"{k}={v}\n" for k, v in sorted(values.items()))


def _sourced_env(values: Mapping[str, str]) -> str:
    """KEY='value' lines that bash can ``source`` safely, whatever the values hold."""
    _env_file(values)  # same newline rule
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in sorted(values.items()))


def _lines(values: Sequence[str]) -> str:
    """One argument per line, read back with ``mapfile`` (no word splitting, no globbing)."""
    for value in values:
        if "\n" in value:
            raise ValueError(f"argument {value!r} cannot contain a newline")
    return "".join(f"{v}\n" for v in values)


def boot_env(spec: BootSpec) -> dict[str, str]:
    return {
        "AWS_REGION": spec.region,
        "MODEL": spec.model,
        "ENGINE_IMAGE": spec.engine_image,
        "WORKER_IMAGE": spec.worker_image,
        "ENGINE_PORT": str(spec.engine_port),
        "READINESS_PATH": spec.readiness_path,
        "ENGINE_ENTRYPOINT": spec.engine_entrypoint,
        "LAUNCH_HOOK": spec.launch_hook_name,
        "READY_TIMEOUT_SECONDS": str(spec.ready_timeout_seconds),
        "BOOT_DEADLINE_SECONDS": str(spec.boot_deadline_seconds),
        "ECR_REGISTRIES": " ".join(_ecr.registries(spec.engine_image, spec.worker_image)),
        "MODEL_CACHE_DIR": spec.model_cache_dir,
        "SHM_SIZE": f"{spec.shm_size_gib}g",
        **(
            {
                "WEIGHTS_BUCKET": spec.weights_bucket,
                "WEIGHTS_PREFIX": spec.weights_prefix,
                "WEIGHTS_MARKER": spec.weights_marker,
            }
            if spec.weights_bucket is not None
            else {
                "TOKEN_SECRET_ARN": spec.token_secret_arn or "",
                "TOKEN_ENV": spec.token_env,
                "DOWNLOAD_ENTRYPOINT": spec.download_entrypoint,
            }
        ),
    }


def _engine_env(comment: str, write: str) -> str:
    """The engine's environment file, on tmpfs and readable by root only, written by ``write``."""
    return f"""# {comment}
install -d -m 0700 {RUN_DIR}
umask 077
{write}
umask 022
"""


_ENGINE_ENV_FROM_S3 = _engine_env(
    "Staged weights: the engine needs no token and must not ask the Hub. Its environment file\n"
    "# lives on tmpfs, readable by root only.",
    f"printf 'HF_HUB_OFFLINE=1\\n' > {SECRET_ENV_PATH}",
)

_ENGINE_ENV_FROM_HUB = _engine_env(
    "The token goes to tmpfs, readable by root only; a missing value means a public model.",
    f"""token=$(aws secretsmanager get-secret-value --region "$AWS_REGION" \\
  --secret-id "$TOKEN_SECRET_ARN" --query SecretString --output text 2> /dev/null || true)
printf '%s=%s\\n' "$TOKEN_ENV" "$token" > {SECRET_ENV_PATH}
unset token""",
)

_WEIGHTS_FROM_S3 = f"""# Staged weights: only a complete copy (its marker written last) is ever used, and the
# marker is copied to disk last too, so a copy already on disk (a warm-pool instance starting
# again) is kept when it is the one the bucket's marker describes.
marker=$(mktemp)
local_marker="{CACHE_DIR}/${{WEIGHTS_PREFIX}}${{WEIGHTS_MARKER}}"
if ! error=$(aws s3api get-object --region "$AWS_REGION" --bucket "$WEIGHTS_BUCKET" \\
  --key "${{WEIGHTS_PREFIX}}${{WEIGHTS_MARKER}}" "$marker" 2>&1 > /dev/null); then
  echo "boot: cannot read s3://${{WEIGHTS_BUCKET}}/${{WEIGHTS_PREFIX}}${{WEIGHTS_MARKER}}: ${{error//$'\\n'/ }}"
  echo "boot: s3://${{WEIGHTS_BUCKET}}/${{WEIGHTS_PREFIX}} is not staged (no ${{WEIGHTS_MARKER}}) or this" \\
    "instance's role cannot read it: run: llm-serving weights stage STACK ${{MODEL}}"
  false
fi
if cmp -s "$marker" "$local_marker"; then
  echo "boot: weights on disk match s3://${{WEIGHTS_BUCKET}}/${{WEIGHTS_PREFIX}}; nothing to copy"
else
  rm -f "$local_marker"
  # The AWS CLI's CRT transfer client: parallel ranged downloads that fill the instance's
  # network and disk (docs/reference.md#s3-and-sns).
  aws configure set default.s3.preferred_transfer_client crt
  aws s3 cp --recursive --only-show-errors --region "$AWS_REGION" --exclude "$WEIGHTS_MARKER" \\
    "s3://${{WEIGHTS_BUCKET}}/${{WEIGHTS_PREFIX}}" "{CACHE_DIR}/${{WEIGHTS_PREFIX}}"
  # Every file the marker lists, at its size (python3 is Amazon Linux 2023's own).
  python3 - "{CACHE_DIR}" "$marker" << 'CHECK'
import json, os, sys
cache, marker = sys.argv[1], sys.argv[2]
wrong = []
for f in json.load(open(marker))["files"]:
    path = os.path.join(cache, f["key"])
    size = os.path.getsize(path) if os.path.isfile(path) else None
    if size != f["size"]:
        wrong.append(f"{{f['key']}} ({{'missing' if size is None else size}}, marker: {{f['size']}})")
if wrong:
    sys.exit(f"boot: the copy does not match its marker: {{'; '.join(wrong[:3])}}: stage the revision again")
CHECK
  install -m 0644 "$marker" "$local_marker"
fi
rm -f "$marker"
"""

_WEIGHTS_FROM_HUB = f"""mapfile -t download_args < {CONFIG_DIR}/download.args
docker run --rm --env-file {SECRET_ENV_PATH} -v "{CACHE_DIR}:${{MODEL_CACHE_DIR}}" \\
  --entrypoint "$DOWNLOAD_ENTRYPOINT" "$ENGINE_IMAGE" "${{download_args[@]}}"
"""


# The script's own comment names this module's path before the backends had folders: any
# change to the text is a new launch-template version, which rolls every fleet.
_BOOT_SCRIPT = """#!/bin/bash
# Prepares this instance to serve its model, on every boot (see components/user_data.py).
set -euo pipefail
# shellcheck source=/dev/null
source {CONFIG_DIR}/boot.env

imds() {{
  # IMDSv2: a fresh session token per call; hop limit 1 keeps containers off IMDS
  # unless they use host networking.
  local token
  token=$(curl -sSf -X PUT "http://169.254.169.254/latest/api/token" \\
    -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
  curl -sSf -H "X-aws-ec2-metadata-token: ${{token}}" "http://169.254.169.254/latest/meta-data/$1"
}}

lifecycle() {{
  aws autoscaling "$1" --region "$AWS_REGION" --auto-scaling-group-name "$asg" \\
    --lifecycle-hook-name "$LAUNCH_HOOK" --instance-id "$instance_id" "${{@:2}}"
}}

complete_launch() {{
  # Stop the heartbeats first, a heartbeat already on its way included: none after the answer.
  if [[ -n ${{heartbeat_pid:-}} ]]; then
    kill "$heartbeat_pid" 2> /dev/null || true
    wait "$heartbeat_pid" 2> /dev/null || true
  fi
  lifecycle complete-lifecycle-action --lifecycle-action-result "$1" || true
}}

instance_id=$(imds instance-id)
asg=$(imds tags/instance/aws:autoscaling:groupName)
# The target lifecycle state appears in instance metadata a little after launch: wait for
# it, or a warm-pool instance would take itself for one entering service.
state=""
for ((waited = 0; waited < {LIFECYCLE_STATE_WAIT_SECONDS}; waited += 2)); do
  if state=$(imds autoscaling/target-lifecycle-state 2> /dev/null) && [[ -n $state ]]; then break; fi
  state=""
  sleep 2
done
echo "boot: instance ${{instance_id}} of ${{asg}}, target state ${{state:-unknown}}"
trap 'echo "boot: failed, abandoning the launch"; complete_launch ABANDON' ERR
if [[ -z $state ]]; then
  echo "boot: no target lifecycle state after {LIFECYCLE_STATE_WAIT_SECONDS} s"
  false
fi

# Keep the launch hook alive while preparing, up to the boot's deadline; past it the hook
# times out and Auto Scaling abandons the launch even if this script hangs.
# Stopped between heartbeats, it exits at once (the pause is waited for, which a signal
# interrupts); during one, once that heartbeat is sent.
(
  trap 'exit 0' TERM
  deadline=$((SECONDS + BOOT_DEADLINE_SECONDS))
  while ((SECONDS < deadline)); do
    sleep {HEARTBEAT_SECONDS} &
    wait $!
    lifecycle record-lifecycle-action-heartbeat || true
  done
) &
heartbeat_pid=$!

{_ENGINE_ENV}

for registry in $ECR_REGISTRIES; do
  aws ecr get-login-password --region "$AWS_REGION" \\
    | docker login --username AWS --password-stdin "$registry"
done
# Back off exponentially, with jitter, when a registry refuses (rate limits): every
# instance of a scale-out retrying in step would keep the limit hit.
for ((attempt = 1; ; attempt++)); do
  if docker pull "$ENGINE_IMAGE" && docker pull "$WORKER_IMAGE"; then break; fi
  if ((attempt == {PULL_ATTEMPTS})); then
    echo "boot: image pull failed {PULL_ATTEMPTS} times"
    false
  fi
  backoff=$(({PULL_BACKOFF_SECONDS} << (attempt - 1)))
  pause=$((backoff + RANDOM % (backoff + 1)))
  echo "boot: image pull failed (attempt ${{attempt}}), retrying in ${{pause}} s"
  sleep "$pause"
done

install -d -m 0755 {CACHE_DIR}
{_WEIGHTS}
if [[ $state == Warmed:* ]]; then
  echo "boot: image and weights ready; entering the warm pool"
  complete_launch CONTINUE
  exit 0
fi

systemctl start llm-engine.service
deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
until curl -sf "http://127.0.0.1:${{ENGINE_PORT}}${{READINESS_PATH}}" > /dev/null; do
  if ((SECONDS > deadline)); then
    echo "boot: engine not ready after ${{READY_TIMEOUT_SECONDS}} s"
    false
  fi
  sleep {READY_POLL_SECONDS}
done
systemctl start llm-worker.service
echo "boot: engine ready, worker started"
complete_launch CONTINUE
"""


def boot_script(*, from_s3: bool) -> str:
    """The boot script for weights from S3 (no token, no Hub) or from the Hub."""
    return _BOOT_SCRIPT.format(
        CONFIG_DIR=CONFIG_DIR,
        CACHE_DIR=CACHE_DIR,
        HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
        LIFECYCLE_STATE_WAIT_SECONDS=LIFECYCLE_STATE_WAIT_SECONDS,
        PULL_ATTEMPTS=PULL_ATTEMPTS,
        PULL_BACKOFF_SECONDS=PULL_BACKOFF_SECONDS,
        READY_POLL_SECONDS=READY_POLL_SECONDS,
        _ENGINE_ENV=(_ENGINE_ENV_FROM_S3 if from_s3 else _ENGINE_ENV_FROM_HUB).rstrip("\n"),
        _WEIGHTS=(_WEIGHTS_FROM_S3 if from_s3 else _WEIGHTS_FROM_HUB).rstrip("\n"),
    )


RUN_ENGINE = f"""#!/bin/bash
# The engine container, as llm-engine.service runs it.
set -euo pipefail
# shellcheck source=/dev/null
source {CONFIG_DIR}/boot.env
mapfile -t engine_args < {CONFIG_DIR}/engine.args
exec docker run --rm --name llm-engine --gpus all --network host --shm-size "$SHM_SIZE" \\
  --env-file {SECRET_ENV_PATH} -v "{CACHE_DIR}:${{MODEL_CACHE_DIR}}" \\
  --entrypoint "$ENGINE_ENTRYPOINT" "$ENGINE_IMAGE" "${{engine_args[@]}}"
"""

RUN_WORKER = f"""#!/bin/bash
# The queue worker container, as llm-worker.service runs it.
set -euo pipefail
# shellcheck source=/dev/null
source {CONFIG_DIR}/boot.env
exec docker run --rm --name llm-worker --network host \\
  --env-file {CONFIG_DIR}/worker.env "$WORKER_IMAGE"
"""


def _unit(
    description: str,
    exec_start: str,
    *,
    after: str,
    log: str,
    stop: str = "",
    stop_seconds: int = 90,
    restart: bool = True,
    oneshot: bool = False,
) -> str:
    lines = [
        "[Unit]",
        f"Description={description}",
        f"After={after}",
        "Requires=docker.service",
        "",
        "[Service]",
    ]
    if oneshot:
        lines += ["Type=oneshot", "RemainAfterExit=yes"]
    lines += [f"ExecStart={exec_start}"]
    if stop:
        lines += [f"ExecStop={stop}"]
    if restart:
        lines += ["Restart=always", "RestartSec=10"]
    lines += [
        f"TimeoutStopSec={stop_seconds}",
        f"StandardOutput=append:{LOG_DIR}/{log}.log",
        "StandardError=inherit",
    ]
    if oneshot:
        lines += ["TimeoutStartSec=infinity", "", "[Install]", "WantedBy=multi-user.target"]
    return "\n".join(lines) + "\n"


def cloudwatch_agent_config(spec: BootSpec) -> dict[str, Any]:
    files = [
        {
            "file_path": f"{LOG_DIR}/{name}.log",
            "log_group_name": group,
            "log_stream_name": "{instance_id}",
        }
        for name, group in sorted(spec.log_groups.items())
    ]
    return {
        "agent": {"region": spec.region, "logfile": "/var/log/amazon-cloudwatch-agent.log"},
        "logs": {
            "logs_collected": {"files": {"collect_list": files}},
            # Accepts the worker's Embedded Metric Format documents on localhost:25888.
            "metrics_collected": {"emf": {}},
        },
    }


def _file(path: str, content: str, permissions: str = "0644") -> dict[str, str]:
    return {"path": path, "content": content, "permissions": permissions, "owner": "root:root"}


def render(spec: BootSpec) -> str:
    """The cloud-config document (``#cloud-config`` first line) for ``spec``."""
    from_s3 = spec.weights_bucket is not None
    units = {
        "llm-serving-boot.service": _unit(
            f"Prepare the instance to serve {spec.model}",
            BOOT_SCRIPT_PATH,
            after="docker.service network-online.target amazon-cloudwatch-agent.service",
            log="boot",
            restart=False,
            oneshot=True,
        ),
        "llm-engine.service": _unit(
            f"{spec.engine_name} engine serving {spec.model}",
            RUN_ENGINE_PATH,
            after="docker.service",
            log="engine",
            stop=f"/usr/bin/docker stop --time {spec.graceful_stop_seconds} llm-engine",
            stop_seconds=spec.graceful_stop_seconds + 30,
        ),
        "llm-worker.service": _unit(
            f"Queue worker of {spec.model}",
            RUN_WORKER_PATH,
            # Started after the engine, so stopped before it: the worker drains first.
            after="docker.service llm-engine.service",
            log="worker",
            stop=f"/usr/bin/docker stop --time {spec.worker_stop_seconds} llm-worker",
            stop_seconds=spec.worker_stop_seconds + 30,
        ),
    }
    files = [
        _file(f"{CONFIG_DIR}/boot.env", _sourced_env(boot_env(spec))),
        _file(f"{CONFIG_DIR}/engine.args", _lines(spec.engine_args)),
        *([] if from_s3 else [_file(f"{CONFIG_DIR}/download.args", _lines(spec.download_args))]),
        _file(f"{CONFIG_DIR}/worker.env", _env_file(spec.worker_env)),
        _file(BOOT_SCRIPT_PATH, boot_script(from_s3=from_s3), "0755"),
        _file(RUN_ENGINE_PATH, RUN_ENGINE, "0755"),
        _file(RUN_WORKER_PATH, RUN_WORKER, "0755"),
        _file(CLOUDWATCH_AGENT_CONFIG, json.dumps(cloudwatch_agent_config(spec), indent=2) + "\n"),
        _file(
            "/etc/logrotate.d/llm-serving",
            f"{LOG_DIR}/*.log {{\n  daily\n  rotate 3\n  compress\n  missingok\n  copytruncate\n}}\n",
        ),
        *[_file(f"/etc/systemd/system/{name}", text) for name, text in units.items()],
    ]
    document = {
        "package_update": False,
        "packages": ["amazon-cloudwatch-agent"],
        "write_files": files,
        "runcmd": [
            ["install", "-d", "-m", "0755", LOG_DIR],
            [
                "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl",
                "-a",
                "fetch-config",
                "-m",
                "ec2",
                "-s",
                "-c",
                f"file:{CLOUDWATCH_AGENT_CONFIG}",
            ],
            ["systemctl", "daemon-reload"],
            # Enabled, so it runs again when a warm-pool instance is started.
            ["systemctl", "enable", "--now", "llm-serving-boot.service"],
        ],
    }
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False, width=1000)


def shell_scripts() -> dict[str, str]:
    """The shell parts of the user data, for shellcheck."""
    return {
        f"{BOOT_SCRIPT_PATH} (weights from the Hub)": boot_script(from_s3=False),
        f"{BOOT_SCRIPT_PATH} (weights from S3)": boot_script(from_s3=True),
        RUN_ENGINE_PATH: RUN_ENGINE,
        RUN_WORKER_PATH: RUN_WORKER,
    }


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks, so the scripts stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _str)
