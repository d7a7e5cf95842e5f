"""The instances' boot script, run for real by bash with fake ``curl`` (instance metadata
and the engine), ``aws``, ``docker``, ``systemctl`` and ``sleep`` on PATH: what it does for
a warm-pool instance and one entering service, how it waits for its lifecycle state, how it
backs off a registry that refuses, and that it keeps the launch hook alive only while it
works."""

from __future__ import annotations

import json
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

from components.ec2 import user_data
from tests.components.test_user_data import S3_WEIGHTS, spec

FAKES = {
    "curl": r"""
        url="${@: -1}"
        if [[ " $* " == *" -X PUT "* ]]; then echo token; exit 0; fi
        case "$url" in
          */meta-data/instance-id) echo i-0abc ;;
          */meta-data/tags/instance/aws:autoscaling:groupName) echo llm-dev-chat-od-1 ;;
          */meta-data/autoscaling/target-lifecycle-state)
            n=$(($(cat "$FAKE/state-polls" 2>/dev/null || echo 0) + 1)); echo "$n" > "$FAKE/state-polls"
            if ((n <= ${STATE_AFTER_POLLS:-0})) || [[ -z ${TARGET_STATE:-} ]]; then exit 22; fi
            echo "$TARGET_STATE" ;;
          http://127.0.0.1:*)
            n=$(($(cat "$FAKE/ready-polls" 2>/dev/null || echo 0) + 1)); echo "$n" > "$FAKE/ready-polls"
            ((n > ${READY_AFTER_POLLS:-0})) || exit 22 ;;
          *) exit 22 ;;
        esac
    """,
    "aws": r"""
        echo "aws $*" >> "$FAKE/calls"
        if [[ $1 == secretsmanager ]]; then echo hf_placeholder_token; fi
        if [[ $1 == ecr ]]; then echo password; fi
        # S3 is a folder: $FAKE/s3/<key>.
        arg() { local want=$1; shift; while (($#)); do [[ $1 == "$want" ]] && { echo "$2"; return; }; shift; done; }
        if [[ $1 == s3api && $2 == get-object ]]; then  # ... --key KEY OUTFILE
          key=$(arg --key "$@")
          if [[ ! -f "$FAKE/s3/$key" ]]; then
            echo "An error occurred (AccessDenied) when calling the GetObject operation: Access Denied" >&2
            exit 254
          fi
          cp "$FAKE/s3/$key" "${@: -1}"
        fi
        if [[ $1 == s3 && $2 == cp ]]; then  # --recursive ... --exclude NAME s3://BUCKET/PREFIX DEST
          excluded=$(arg --exclude "$@"); source="${@: -2:1}"; dest="${@: -1}"; prefix="${source#s3://*/}"
          mkdir -p "$dest"
          (cd "$FAKE/s3/$prefix" && find . -type f ! -name "$excluded" -exec cp --parents {} "$dest" \;)
        fi
    """,
    "docker": r"""
        echo "docker $*" >> "$FAKE/calls"
        if [[ $1 == login ]]; then cat > /dev/null; fi  # reads the password, as docker does
        if [[ $1 == pull ]]; then
          n=$(($(cat "$FAKE/pulls" 2>/dev/null || echo 0) + 1)); echo "$n" > "$FAKE/pulls"
          ((n > ${PULL_FAILURES:-0})) || exit 1
        fi
    """,
    "systemctl": r"""echo "systemctl $*" >> "$FAKE/calls" """,
    # Records the pause asked for, and pauses a little for real so loops still take time.
    "sleep": r"""echo "sleep $1" >> "$FAKE/sleeps"; /bin/sleep 0.01""",
}


@dataclass
class Boot:
    returncode: int
    output: str
    calls: list[str]
    sleeps: list[int]
    engine_env: str

    def lifecycle(self, action: str) -> list[str]:
        return [c for c in self.calls if c.startswith(f"aws autoscaling {action}")]


def boot(tmp_path: Path, from_s3: bool = False, s3: dict[str, bytes] | None = None, **env: str | int) -> Boot:
    """Runs the boot script once; run it again with the same ``tmp_path`` for a restart of the
    same instance (its disk, ``root``, is kept). ``s3``: the bucket's objects, key -> body."""
    fake = tmp_path / "fake"
    bin_dir = fake / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for record in ("calls", "sleeps", "pulls", "state-polls", "ready-polls"):
        (fake / record).unlink(missing_ok=True)
    for key, body in (s3 or {}).items():
        (fake / "s3" / key).parent.mkdir(parents=True, exist_ok=True)
        (fake / "s3" / key).write_bytes(body)
    for name, body in FAKES.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
        path.chmod(0o755)
    root = tmp_path / "root"
    script = user_data.boot_script(from_s3=from_s3)
    for real in (user_data.CONFIG_DIR, user_data.CACHE_DIR, "/run/llm-serving"):
        script = script.replace(real, f"{root}{real}")
    (root / user_data.CONFIG_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    settings = {**user_data.boot_env(spec(**(S3_WEIGHTS if from_s3 else {}))), "BOOT_DEADLINE_SECONDS": "30"}
    settings.update({k: str(v) for k, v in env.items() if k in settings})
    (root / user_data.CONFIG_DIR.lstrip("/") / "boot.env").write_text(user_data._sourced_env(settings))
    (root / user_data.CONFIG_DIR.lstrip("/") / "download.args").write_text("download-weights\nmodel\n")
    (tmp_path / "boot").write_text(script)
    fake_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "FAKE": str(fake), **{k: str(v) for k, v in env.items()}}
    result = subprocess.run(["bash", str(tmp_path / "boot")], env=fake_env, capture_output=True, text=True, timeout=60)
    read = lambda name: (fake / name).read_text().splitlines() if (fake / name).exists() else []  # noqa: E731
    engine_env = root / "run/llm-serving/engine.env"
    return Boot(
        result.returncode,
        result.stdout + result.stderr,
        read("calls"),
        [int(line.split()[1]) for line in read("sleeps")],
        engine_env.read_text() if engine_env.exists() else "",
    )


def test_an_instance_entering_service_starts_engine_then_worker_and_completes_its_launch(tmp_path: Path) -> None:
    result = boot(tmp_path, TARGET_STATE="InService", READY_AFTER_POLLS=2)
    assert result.returncode == 0, result.output
    started = [c for c in result.calls if c.startswith("systemctl start")]
    assert started == ["systemctl start llm-engine.service", "systemctl start llm-worker.service"]
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "--lifecycle-action-result CONTINUE" in complete
    assert "--auto-scaling-group-name llm-dev-chat-od-1" in complete
    assert "--instance-id i-0abc" in complete


def test_a_warm_pool_instance_fetches_image_and_weights_then_completes_without_serving(tmp_path: Path) -> None:
    result = boot(tmp_path, TARGET_STATE="Warmed:Stopped")
    assert result.returncode == 0, result.output
    assert not [c for c in result.calls if c.startswith("systemctl start")]
    assert [c for c in result.calls if c.startswith("docker run")]
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "--lifecycle-action-result CONTINUE" in complete


def test_the_boot_waits_for_the_target_lifecycle_state_to_appear(tmp_path: Path) -> None:
    # Read once and defaulted to InService, a warm-pool instance would start serving.
    result = boot(tmp_path, TARGET_STATE="Warmed:Stopped", STATE_AFTER_POLLS=3)
    assert result.returncode == 0, result.output
    assert "target state Warmed:Stopped" in result.output
    assert not [c for c in result.calls if c.startswith("systemctl start")]


def test_no_target_lifecycle_state_abandons_the_launch(tmp_path: Path) -> None:
    result = boot(tmp_path, TARGET_STATE="")
    assert result.returncode != 0
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "--lifecycle-action-result ABANDON" in complete
    assert sum(1 for s in result.sleeps if s == 2) == user_data.LIFECYCLE_STATE_WAIT_SECONDS // 2


def test_refused_pulls_back_off_exponentially_with_jitter(tmp_path: Path) -> None:
    # No heartbeats and a ready engine: every pause recorded is a pull's backoff.
    result = boot(tmp_path, TARGET_STATE="InService", PULL_FAILURES=3, BOOT_DEADLINE_SECONDS=0)
    assert result.returncode == 0, result.output
    pauses = result.sleeps
    assert len(pauses) == 3
    for attempt, pause in enumerate(pauses):
        backoff = user_data.PULL_BACKOFF_SECONDS << attempt
        assert backoff <= pause <= 2 * backoff


def test_a_registry_that_keeps_refusing_abandons_the_launch_after_the_last_attempt(tmp_path: Path) -> None:
    result = boot(tmp_path, TARGET_STATE="InService", PULL_FAILURES=99)
    assert result.returncode != 0
    assert f"image pull failed {user_data.PULL_ATTEMPTS} times" in result.output
    assert len([c for c in result.calls if c.startswith("docker pull")]) == user_data.PULL_ATTEMPTS
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "ABANDON" in complete


def test_the_launch_hook_gets_heartbeats_while_the_boot_works_and_none_after(tmp_path: Path) -> None:
    result = boot(tmp_path, TARGET_STATE="InService", READY_AFTER_POLLS=20)
    assert result.returncode == 0, result.output
    beats = result.lifecycle("record-lifecycle-action-heartbeat")
    assert beats, result.output
    assert all("--lifecycle-hook-name llm-serving-launch" in b for b in beats)
    last_beat = max(i for i, c in enumerate(result.calls) if "record-lifecycle-action-heartbeat" in c)
    complete = next(i for i, c in enumerate(result.calls) if "complete-lifecycle-action" in c)
    assert last_beat < complete
    assert user_data.HEARTBEAT_SECONDS in result.sleeps


def test_heartbeats_stop_at_the_boot_deadline(tmp_path: Path) -> None:
    # Past its deadline the boot no longer vouches for itself: the hook times out.
    result = boot(tmp_path, TARGET_STATE="InService", READY_AFTER_POLLS=60, BOOT_DEADLINE_SECONDS=0)
    assert result.returncode == 0, result.output
    assert result.lifecycle("record-lifecycle-action-heartbeat") == []


PREFIX = S3_WEIGHTS["weights_prefix"]
WEIGHTS = {f"{PREFIX}config.json": b'{"architectures": []}', f"{PREFIX}model.safetensors": bytes(range(256)) * 40}


def staged(files: dict[str, bytes] = WEIGHTS, listed: dict[str, int] | None = None) -> dict[str, bytes]:
    """The bucket after a complete stage: the files, and the marker listing them with sizes."""
    sizes = listed if listed is not None else {k: len(v) for k, v in files.items()}
    marker = {"files": [{"key": k, "size": n, "checksum": "sha256:x"} for k, n in sizes.items()]}
    return {**files, f"{PREFIX}done.json": json.dumps(marker).encode()}


def cached(tmp_path: Path, key: str) -> Path:
    return tmp_path / "root" / user_data.CACHE_DIR.lstrip("/") / key


def test_staged_weights_are_copied_from_s3_with_no_token_and_no_hub(tmp_path: Path) -> None:
    result = boot(tmp_path, from_s3=True, s3=staged(), TARGET_STATE="InService")
    assert result.returncode == 0, result.output
    assert not [c for c in result.calls if "secretsmanager" in c]
    assert not [c for c in result.calls if c.startswith("docker run")]  # no download in the engine's image
    [marker] = [c for c in result.calls if "s3api get-object" in c]
    assert "--bucket weights-x --key org/model/abc/done.json" in marker
    [copy] = [c for c in result.calls if c.startswith("aws s3 cp")]
    assert "--recursive" in copy and "--exclude done.json" in copy and "s3://weights-x/org/model/abc/" in copy
    assert copy.endswith("/opt/llm-serving/cache/org/model/abc/")
    assert "aws configure set default.s3.preferred_transfer_client crt" in result.calls
    for key, body in WEIGHTS.items():
        assert cached(tmp_path, key).read_bytes() == body
    assert cached(tmp_path, f"{PREFIX}done.json").read_bytes() == staged()[f"{PREFIX}done.json"]
    assert result.engine_env == "HF_HUB_OFFLINE=1\n"
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "CONTINUE" in complete


def test_a_warm_pool_instance_starting_again_keeps_the_weights_on_its_disk(tmp_path: Path) -> None:
    warmed = boot(tmp_path, from_s3=True, s3=staged(), TARGET_STATE="Warmed:Stopped")
    assert warmed.returncode == 0, warmed.output
    assert [c for c in warmed.calls if c.startswith("aws s3 cp")]
    serving = boot(tmp_path, from_s3=True, TARGET_STATE="InService")
    assert serving.returncode == 0, serving.output
    assert [c for c in serving.calls if "s3api get-object" in c]  # the bucket's marker, compared
    assert not [c for c in serving.calls if c.startswith("aws s3 cp")]
    assert "nothing to copy" in serving.output


def test_a_restaged_revision_is_copied_again(tmp_path: Path) -> None:
    assert boot(tmp_path, from_s3=True, s3=staged(), TARGET_STATE="Warmed:Stopped").returncode == 0
    changed = {**WEIGHTS, f"{PREFIX}config.json": b'{"architectures": ["X"]}'}
    again = boot(tmp_path, from_s3=True, s3=staged(changed), TARGET_STATE="InService")
    assert again.returncode == 0, again.output
    assert [c for c in again.calls if c.startswith("aws s3 cp")]
    assert cached(tmp_path, f"{PREFIX}config.json").read_bytes() == changed[f"{PREFIX}config.json"]


def test_a_copy_that_does_not_match_its_marker_abandons_the_launch(tmp_path: Path) -> None:
    # A marker over a prefix whose objects changed (a partial delete): never served.
    sizes = {k: len(v) for k, v in WEIGHTS.items()} | {f"{PREFIX}model-00002.safetensors": 99}
    result = boot(tmp_path, from_s3=True, s3=staged(listed=sizes), TARGET_STATE="InService")
    assert result.returncode != 0
    assert "boot: the copy does not match its marker: org/model/abc/model-00002.safetensors (missing, marker: 99)" in (
        result.output
    )
    assert not cached(tmp_path, f"{PREFIX}done.json").exists()
    assert not [c for c in result.calls if c.startswith("systemctl start")]
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "ABANDON" in complete


def test_a_prefix_without_its_marker_fails_the_boot_with_a_clear_line(tmp_path: Path) -> None:
    # A half-copied prefix (the stager was killed) must never be served.
    result = boot(tmp_path, from_s3=True, s3=dict(WEIGHTS), TARGET_STATE="InService")
    assert result.returncode != 0
    assert "boot: cannot read s3://weights-x/org/model/abc/done.json: An error occurred (AccessDenied)" in result.output
    assert (
        "boot: s3://weights-x/org/model/abc/ is not staged (no done.json) or this instance's role cannot read it: "
        "run: llm-serving weights stage STACK chat" in result.output
    )
    assert not [c for c in result.calls if c.startswith("aws s3 cp")]
    [complete] = result.lifecycle("complete-lifecycle-action")
    assert "ABANDON" in complete


def test_weights_from_the_hub_read_the_token_into_tmpfs(tmp_path: Path) -> None:
    result = boot(tmp_path, TARGET_STATE="InService")
    assert result.returncode == 0, result.output
    assert [c for c in result.calls if "secretsmanager get-secret-value" in c]
    assert result.engine_env == "HF_TOKEN=hf_placeholder_token\n"
    assert not [c for c in result.calls if "s3api" in c]
