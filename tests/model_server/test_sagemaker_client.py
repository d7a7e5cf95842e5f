"""The client's synchronous path for models on a SageMaker endpoint: ``invoke`` calls
InvokeEndpoint (SigV4, by boto3) with the OpenAI chat body and prints the answer."""

from __future__ import annotations

import subprocess
import sys

from fake_sagemaker import ENDPOINT, FakeSageMaker, model_error
from worker_harness import REPO, worker_environment


def _invoke(endpoint: FakeSageMaker, *args: str) -> subprocess.CompletedProcess[str]:
    env = worker_environment({"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": endpoint.url})
    command = [sys.executable, "-m", "model_server.client", "invoke", "--endpoint", ENDPOINT, *args]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=30)


def test_invoke_command_prints_the_endpoints_answer(endpoint: FakeSageMaker) -> None:
    done = _invoke(endpoint, "--prompt", "Hello there", "--max-tokens", "32")

    assert (done.returncode, done.stdout, done.stderr) == (0, "echo: Hello there\n", "")
    [call] = endpoint.calls
    assert (call.operation, call.endpoint) == ("InvokeEndpoint", ENDPOINT)
    assert call.body == {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 32, "stream": False}
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256")


def test_invoke_command_reports_the_models_refusal_and_exits_1(endpoint: FakeSageMaker) -> None:
    endpoint.fail_next(model_error(422, '{"error": "Input validation error: `max_tokens` must be > 0"}'))

    done = _invoke(endpoint, "--prompt", "Hello", "--max-tokens", "0")

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith("ModelError: Received client error (422)")
    assert 'the model said: {"error": "Input validation error: `max_tokens` must be > 0"}' in done.stderr


def test_invoke_command_names_an_unknown_endpoint(endpoint: FakeSageMaker) -> None:
    endpoint.status = None

    done = _invoke(endpoint, "--prompt", "Hello")

    assert done.returncode == 1
    assert f"ValidationError: Endpoint {ENDPOINT} of account" in done.stderr
