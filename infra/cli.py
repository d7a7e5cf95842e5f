"""The ``llm-serving`` command: the offline plan, and deploys through the Automation API.

Exit codes: 0 fine, 1 mandatory policy findings or a failed check or operation (drift found, a
failed pulumi command, rollout, smoke test or staging), 2 bad config or usage, 3 the drift
check itself failed (an error, not drift).
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

# Light modules, for the defaults of their commands (their heavy imports wait for a run).
from infra import rollout
from infra import smoke as smoke_defaults

if TYPE_CHECKING:  # the plan imports pulumi: only load it for the commands that need it
    from infra.plan import Plan

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_DRIFT_ERROR = 0, 1, 2, 3

app = typer.Typer(
    help="Plan and deploy the LLM serving stack of one environment (one Pulumi stack).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True, highlight=False)

StackArg = Annotated[str, typer.Argument(help="Stack name: the STACK of Pulumi.STACK.yaml.")]
ProjectDirOpt = Annotated[
    Path | None,
    typer.Option("--project-dir", help="Folder with Pulumi.yaml (default: this project)."),
]


def _error(line: str) -> None:
    from rich.markup import escape

    # Escaped: keys and AWS's messages may hold [brackets].
    err.print(f"[red]error:[/] {escape(line)}", markup=True, highlight=False)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    for line in message.splitlines():
        _error(line)
    return typer.Exit(code)


class _PlanGroup(TyperGroup):
    """``plan STACK`` is short for ``plan show STACK``; ``plan diff`` compares two plans."""

    # The context is typer's bundled click Context, whose module is private: typed as Any.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["show", *args]
        return super().parse_args(ctx, args)


plan_app = typer.Typer(
    cls=_PlanGroup,
    help="The offline plan: `plan STACK` shows it, `plan diff` compares two.",
    no_args_is_help=True,
)
app.add_typer(plan_app, name="plan")


@plan_app.command("show")
def plan(
    stack: StackArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    as_mermaid: Annotated[bool, typer.Option("--mermaid", help="Print a Mermaid diagram.")] = False,
    project_dir: ProjectDirOpt = None,
) -> None:
    """Run the program offline under Pulumi's mocks and show every resource it declares.

    Needs no cloud credentials and no Pulumi CLI."""
    from infra import plan as offline
    from infra.config import ConfigError

    if as_json and as_mermaid:
        raise _fail("choose one of --json and --mermaid")
    try:
        result = offline.run_plan(stack, project_dir or offline.PROJECT_DIR)
    except (ConfigError, offline.StackFileError) as e:
        raise _fail(str(e)) from None
    except Exception:  # a bug in the program: say so, with the trace to report
        err.print(traceback.format_exc(), markup=False)
        raise _fail("the program failed while planning; the trace above shows where") from None
    # Piped output (CI logs, pull-request comments) gets wide lines rather than cut ones.
    out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else 220)
    if as_json:
        sys.stdout.write(result.json_text())
    elif as_mermaid:
        sys.stdout.write(offline_mermaid(result))
    else:
        from infra.render import print_tree

        print_tree(result, out)
    if any(f["level"] == "mandatory" for f in result.findings):
        raise typer.Exit(EXIT_FINDINGS)


@plan_app.command("diff")
def plan_diff(
    targets: Annotated[
        list[str],
        typer.Argument(help="BASE.json HEAD.json (plans from `plan STACK --json`), or STACK with --base."),
    ],
    base: Annotated[
        str | None,
        typer.Option("--base", help="A git revision (e.g. origin/main): plan STACK there, in a temporary worktree."),
    ] = None,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print the pull-request comment.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the diff as JSON.")] = False,
    with_mermaid: Annotated[
        bool, typer.Option("--mermaid", help="With --markdown and --base: fold the stack's diagram into the comment.")
    ] = False,
    preview_report: Annotated[
        Path | None,
        typer.Option("--preview", help="With --markdown: fold this `llm-serving preview --report` file in."),
    ] = None,
    head_json: Annotated[
        Path | None, typer.Option("--save-head", help="With --base: also write the head plan's JSON here.")
    ] = None,
    project_dir: ProjectDirOpt = None,
) -> None:
    """What changes between two offline plans: resources added, removed and changed, and the
    changes that force a replacement. Exit 1 when the head plan has mandatory findings."""
    from infra import plan as offline
    from infra import plan_diff as pd
    from infra.config import ConfigError

    if as_json and as_markdown:
        raise _fail("choose one of --json and --markdown")
    directory = project_dir or offline.PROJECT_DIR
    mermaid_text = None
    try:
        if base is None:
            if len(targets) != 2 or with_mermaid or head_json:
                raise _fail("give BASE.json HEAD.json, or --base REF STACK (--mermaid and --save-head need --base)")
            before, after = pd.load_plan(Path(targets[0])), pd.load_plan(Path(targets[1]))
            labels = (targets[0], targets[1])
        else:
            if len(targets) != 1:
                raise _fail("with --base, give one STACK")
            stack = targets[0]
            head = offline.run_plan(stack, directory)
            after = head.to_json()
            if head_json is not None:
                head_json.write_text(head.json_text())
            if with_mermaid:
                mermaid_text = offline_mermaid(head)
            before = pd.plan_at_ref(base, stack, directory) or pd.empty_plan(stack)
            labels = (base, "this revision")
        diff = pd.diff_plans(before, after)
    except (pd.PlanInputError, ConfigError, offline.StackFileError) as e:
        raise _fail(str(e)) from None
    diff.base_label, diff.head_label = labels
    preview_text = None
    if preview_report is not None:
        preview_text = preview_report.read_text() if preview_report.is_file() else "_No preview report was produced._"
    if as_json:
        sys.stdout.write(json.dumps(diff.to_json(), indent=2, default=str) + "\n")
    elif as_markdown:
        sys.stdout.write(pd.to_markdown(diff, mermaid=mermaid_text, preview=preview_text))
    else:
        sys.stdout.write(pd.to_text(diff))
    if diff.mandatory_findings:
        raise typer.Exit(EXIT_FINDINGS)


def offline_mermaid(result: Plan) -> str:
    """The diagram fenced for Markdown, ready for a pull-request comment."""
    from infra.render import mermaid

    return "```mermaid\n" + mermaid(result) + "```\n"


def _automation_stack(stack: str, project_dir: Path | None):  # type: ignore[no-untyped-def]
    from infra import plan as offline

    if shutil.which("pulumi") is None:
        raise _fail(
            "the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ "
            "(then `pulumi login`, and AWS credentials in the environment).\n"
            f"`llm-serving plan {stack}` works without it and shows what would be created."
        )
    import pulumi.automation as auto

    directory = project_dir or offline.PROJECT_DIR
    if stack not in offline.available_stacks(directory):
        raise _fail(f"no stack file Pulumi.{stack}.yaml in {directory}")
    try:
        return auto.select_stack(stack_name=stack, work_dir=str(directory))
    except auto.errors.StackNotFoundError:
        raise _fail(
            f"stack {stack} does not exist in your Pulumi backend yet: run `pulumi stack init {stack}` in {directory}"
        ) from None


def _run(operation: str, stack: str, project_dir: Path | None, **kwargs: object) -> None:
    import pulumi.automation as auto

    selected = _automation_stack(stack, project_dir)
    try:
        getattr(selected, operation)(on_output=print, color="auto", **kwargs)
    except auto.errors.CommandError as e:
        raise _fail(f"pulumi {operation} failed:\n{e}", code=EXIT_FINDINGS) from None


def _previewed(stack: str, project_dir: Path | None, **options: Any):  # type: ignore[no-untyped-def]
    """`pulumi preview` of the stack with ``options``, its output streamed; what it planned and
    how it failed, gathered from its engine events (``infra.preview_report``)."""
    import pulumi.automation as auto

    from infra.preview_report import PreviewReport

    selected = _automation_stack(stack, project_dir)
    summary = PreviewReport()
    try:
        selected.preview(on_output=print, color="auto", diff=True, on_event=summary.on_event, **options)
    except auto.errors.CommandError as e:
        summary.failure = str(e)
    return summary


def policy_packs(project_dir: Path | None) -> list[str]:
    """The project's policy pack (``policy_pack/``, the rules of ``infra/policies.py``)."""
    from infra import plan as offline

    return [str((project_dir or offline.PROJECT_DIR) / "policy_pack")]


@app.command()
def preview(
    stack: StackArg,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a Markdown summary (changes, replacements, policy findings) here."),
    ] = None,
    project_dir: ProjectDirOpt = None,
) -> None:
    """`pulumi preview` of the stack with the policy pack, through the Automation API (needs
    the Pulumi CLI). Exit 1 when it fails, mandatory policy violations included."""
    summary = _previewed(stack, project_dir, policy_packs=policy_packs(project_dir))
    if report is not None:
        report.write_text(summary.to_markdown(f"pulumi preview of {stack} with the policy pack"))
    if summary.failure or summary.mandatory:
        raise _fail(
            f"pulumi preview of {stack} failed" + (f":\n{summary.failure}" if summary.failure else ""), EXIT_FINDINGS
        )


@app.command()
def up(
    stack: StackArg,
    yes: Annotated[bool, typer.Option("--yes", help="Required: deploys without asking.")] = False,
    project_dir: ProjectDirOpt = None,
) -> None:
    """`pulumi up` of the stack, through the Automation API (needs the Pulumi CLI)."""
    if not yes:
        raise _fail(
            f"`up` changes real infrastructure: run `llm-serving preview {stack}` first, "
            f"then `llm-serving up {stack} --yes`"
        )
    _run("up", stack, project_dir, diff=True, policy_packs=policy_packs(project_dir))


@app.command()
def destroy(
    stack: StackArg,
    yes: Annotated[bool, typer.Option("--yes", help="Required: deletes without asking.")] = False,
    project_dir: ProjectDirOpt = None,
) -> None:
    """`pulumi destroy` of the stack, through the Automation API (needs the Pulumi CLI)."""
    if not yes:
        raise _fail(f"`destroy` deletes the whole stack: run `llm-serving destroy {stack} --yes`")
    _run("destroy", stack, project_dir)


@app.command()
def drift(
    stack: StackArg,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write a Markdown summary of the drift here.")
    ] = None,
    project_dir: ProjectDirOpt = None,
) -> None:
    """Compare the stack with what is really in AWS (`pulumi preview --refresh`, which writes
    no state). Exit 0 no drift, 1 drift, 2 usage, 3 the check itself failed (not drift)."""
    summary = _previewed(stack, project_dir, refresh=True)
    verdict = "error" if summary.failure or summary.errors else "drift" if summary.changes else "no drift"
    if report is not None:
        report.write_text(summary.to_markdown(f"Drift check of {stack}: {verdict}"))
    if verdict == "error":
        raise _fail(f"the drift check of {stack} failed; this is an error, not drift", EXIT_DRIFT_ERROR)
    if verdict == "drift":
        err.print(f"drift: {len(summary.changes)} resource(s) of {stack} differ from the program", markup=False)
        raise typer.Exit(EXIT_FINDINGS)
    err.print(f"no drift: {stack} matches the program", markup=False)


def _outputs(stack: str, outputs_file: Path | None, project_dir: Path | None):  # type: ignore[no-untyped-def]
    from infra import plan as offline
    from infra.stack_outputs import OutputsError, read_outputs

    try:
        return read_outputs(stack, outputs_file, project_dir or offline.PROJECT_DIR)
    except OutputsError as e:
        raise _fail(str(e)) from None


OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="A file holding `pulumi stack output --json` (default: ask the Pulumi CLI)."),
]

rollout_app = typer.Typer(help="Rollouts that `pulumi up` starts and does not wait for.", no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--since {value}: not an ISO 8601 time (e.g. 2026-12-01T10:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@rollout_app.command("wait")
def rollout_wait(
    stack: StackArg,
    outputs_file: OutputsOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait at most.")] = 3600.0,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between polls.")] = rollout.POLL_SECONDS,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only refreshes started at or after this time (ISO 8601): the deploy's start."),
    ] = None,
    project_dir: ProjectDirOpt = None,
) -> None:
    """Wait for the instance refreshes of every model's Auto Scaling groups to finish, then
    check each SageMaker endpoint runs the configuration the stack deployed.

    Exit 0 when the latest refresh of each group is Successful (or there is none) and every
    endpoint is InService on the stack's configuration; 1 when a refresh failed, was cancelled
    or was rolled back by AWS, or is still running at the timeout, or SageMaker rolled an
    endpoint back."""
    from botocore.config import Config

    from infra.rollout import wait_for_rollout
    from model_server.queue_url import session_for

    start = _since(since)
    outputs = _outputs(stack, outputs_file, project_dir)
    groups = [g for names in outputs.group_names().values() for g in names]
    endpoints = outputs.endpoints()
    if not groups and not endpoints:
        err.print(f"skipped: the outputs of {stack} name no Auto Scaling groups or SageMaker endpoints", markup=False)
        return
    session = session_for(outputs.first_queue_url())
    if endpoints:
        from infra.rollout import endpoint_problem

        sagemaker = session.client("sagemaker", config=Config(retries={"mode": "standard"}))
        problems = [p for e, c in endpoints.values() if (p := endpoint_problem(sagemaker, e, c)) is not None]
        if problems:
            raise _fail(f"the rollout of {stack} FAILED: " + "; ".join(problems), EXIT_FINDINGS)
        if not groups:
            print(f"rollout of {stack}: done", flush=True)
            return
    client = session.client("autoscaling", config=Config(retries={"mode": "standard"}))
    result = wait_for_rollout(
        client,
        groups,
        timeout_seconds=timeout,
        poll_seconds=poll,
        since=start,
        report=lambda g: print(g.describe(), flush=True),
    )
    if result.timed_out:
        raise _fail(f"the rollout of {stack} is still running after {timeout:g} s", EXIT_FINDINGS)
    if result.rolled_back:
        raise _fail(
            f"the rollout of {stack} FAILED: AWS rolled back {', '.join(g.group for g in result.rolled_back)} "
            "to the previous version; the stack's state holds the new one: redeploy the last good commit",
            EXIT_FINDINGS,
        )
    if not result.ok:
        raise _fail(f"the rollout of {stack} FAILED", EXIT_FINDINGS)
    print(f"rollout of {stack}: done", flush=True)


@app.command()
def smoke(
    stack: StackArg,
    outputs_file: OutputsOpt = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each model's answer (a fleet at zero must start).")
    ] = smoke_defaults.ANSWER_TIMEOUT_SECONDS,
    capacity_wait: Annotated[
        float, typer.Option("--capacity-wait", help="Seconds to wait for fleets to reach their desired capacity.")
    ] = smoke_defaults.CAPACITY_WAIT_SECONDS,
    project_dir: ProjectDirOpt = None,
) -> None:
    """Smoke-test a deployed stack: one request per model through its queue, fleets at their
    desired capacity, no alarm in ALARM. One line per model; exit 0 only if all pass."""
    from infra.smoke import run_smoke

    outputs = _outputs(stack, outputs_file, project_dir)
    report = run_smoke(outputs, timeout_seconds=timeout, capacity_wait_seconds=capacity_wait)
    for line in report.lines():
        print(line, flush=True)
    if not report.ok:
        raise typer.Exit(EXIT_FINDINGS)


weights_app = typer.Typer(
    help="Model weights in the stack's S3 bucket: stage them from the Hugging Face Hub, prune old revisions.",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")

BucketOpt = Annotated[
    str | None, typer.Option("--bucket", help="The weights bucket (default: the stack's weightsBucket output).")
]


def _weights_config(stack: str, project_dir: Path | None):  # type: ignore[no-untyped-def]
    from infra import plan as offline
    from infra import weights
    from infra.config import ConfigError

    try:
        return weights.load_config(stack, project_dir or offline.PROJECT_DIR)
    except (ConfigError, offline.StackFileError) as e:
        raise _fail(str(e)) from None


def _weights_bucket(stack: str, bucket: str | None, outputs_file: Path | None, project_dir: Path | None) -> str:
    if bucket is not None:
        return bucket
    return _output_bucket(stack, _outputs(stack, outputs_file, project_dir).values)


def _output_bucket(stack: str, outputs: Mapping[str, Any]) -> str:
    value = outputs.get("weightsBucket")
    if not isinstance(value, str) or not value:
        raise _fail(f"the outputs of {stack} name no weightsBucket: deploy the stack first, or pass --bucket")
    return value


def _aws_client(service: str, region: str | None):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region, config=Config(retries={"mode": "standard"}))


@weights_app.command("stage")
def weights_stage(
    stack: StackArg,
    model: Annotated[
        str | None,
        typer.Argument(help="One model of the stack file (default: every model whose weights come from S3)."),
    ] = None,
    bucket: BucketOpt = None,
    outputs_file: OutputsOpt = None,
    in_aws: Annotated[
        bool,
        typer.Option(
            "--in-aws", help="Run in the stack's staging task (CodeBuild) and stream its logs: for large models."
        ),
    ] = False,
    project_dir: ProjectDirOpt = None,
) -> None:
    """Copy each model's pinned revision from the Hugging Face Hub into its prefix of the
    weights bucket (<modelId>/<revision>/), then write the completion marker.

    Resumes where a previous run stopped; a complete copy is never transferred again. The
    token comes from HF_TOKEN locally, from the stack's secret in AWS. Exit 0 when every
    model is complete, 1 when one failed."""
    from infra import weights

    config, region = _weights_config(stack, project_dir)
    try:
        targets = weights.stage_targets(config, stack, model)
    except weights.WeightsError as e:
        raise _fail(str(e)) from None
    if not targets:
        print(
            f"nothing to stage: no model of Pulumi.{stack}.yaml takes its weights from S3 "
            "(models.<name>.weights.source); name a model to stage it anyway",
            flush=True,
        )
        return

    def lines(line: str) -> None:  # progress of both paths: plain lines, for CI and task logs
        print(line, flush=True)

    if not in_aws:
        ok = weights.stage_locally(targets, _weights_bucket(stack, bucket, outputs_file, project_dir), lines, _error)
        if not ok:
            raise typer.Exit(EXIT_FINDINGS)
        return
    if bucket is not None:
        raise _fail(
            f"--bucket does not go with --in-aws: the staging task's role may write only the weights bucket of "
            f"{stack}; drop --bucket, or stage into {bucket} without --in-aws"
        )
    outputs = _outputs(stack, outputs_file, project_dir)
    project = outputs.values.get("weightsStagingProject")
    if not isinstance(project, str) or not project:
        raise _fail(
            f"the outputs of {stack} name no weightsStagingProject: deploy the stack first (it declares the task)"
        )
    codebuild, logs = _aws_client("codebuild", region), _aws_client("logs", region)
    failed = []
    for target in targets:
        try:
            status = weights.stage_in_aws(codebuild, logs, project, target, lines)
        except weights.WeightsError as e:
            raise _fail(f"{target.name}: {e}", EXIT_FINDINGS) from None
        if status != "SUCCEEDED":
            failed.append(f"{target.name} ({status})")
    if failed:
        raise _fail(f"staging failed in AWS for {', '.join(failed)}: the build log above says why", EXIT_FINDINGS)


@weights_app.command("prune")
def weights_prune(
    stack: StackArg,
    yes: Annotated[bool, typer.Option("--yes", help="Delete them (without it, only list them).")] = False,
    bucket: BucketOpt = None,
    outputs_file: OutputsOpt = None,
    ignore_deployed: Annotated[
        bool,
        typer.Option(
            "--ignore-deployed",
            help="Go by the stack file alone, without the deployed outputs: may delete what the running fleet reads.",
        ),
    ] = False,
    project_dir: ProjectDirOpt = None,
) -> None:
    """List the revisions in the weights bucket that neither the stack file nor the deployed
    stack (its outputs) uses, and delete them with --yes.

    Keeps a prefix without marker written to in the last 24 hours: a stage may still be
    running. Run it after a rollout has completed (`llm-serving rollout wait STACK`): until
    then the instances of the previous revision still read its prefix."""
    from infra import plan as offline
    from infra import weights
    from infra.stack_outputs import OutputsError, read_outputs

    config, region = _weights_config(stack, project_dir)
    deployed: set[str] = set()
    if ignore_deployed:
        name = _weights_bucket(stack, bucket, outputs_file, project_dir)
    else:
        try:
            outputs = read_outputs(stack, outputs_file, project_dir or offline.PROJECT_DIR)
        except OutputsError as e:
            reason = " ".join(str(e).split())
            raise _fail(
                f"prune keeps the revisions the deployed stack reads, and cannot read the outputs of {stack} "
                f"({reason}): pass --outputs FILE holding `pulumi stack output --json -s {stack}`, or run where "
                f"the Pulumi CLI can read the stack; --ignore-deployed goes by Pulumi.{stack}.yaml alone"
            ) from None
        try:
            deployed = weights.deployed_prefixes(outputs.models())
        except weights.WeightsError as e:
            raise _fail(str(e)) from None
        name = bucket or _output_bucket(stack, outputs.values)
    s3 = _aws_client("s3", region)
    try:
        found, outside = weights.bucket_revisions(s3, name)
    except weights.WeightsError as e:
        raise _fail(str(e), EXIT_FINDINGS) from None
    pruning = weights.plan_prune(found, config, deployed, datetime.now(UTC))
    if outside:
        print(f"{len(outside)} objects outside <modelId>/<revision>/ prefixes are left alone (e.g. {outside[0]})")
    for r in pruning.deployed:
        print(
            f"deployed, kept: s3://{name}/{r.prefix}  the deployed stack reads it, Pulumi.{stack}.yaml names it no more"
        )
    for r in pruning.in_progress:
        written = r.newest.strftime("%Y-%m-%dT%H:%M:%SZ") if r.newest else "?"
        print(f"in progress, kept: s3://{name}/{r.prefix}  no marker yet, last written {written}")
    unused = pruning.unused
    if not unused:
        print(f"nothing to prune in s3://{name}")
        return
    total = sum(r.size for r in unused)
    for r in unused:
        state = "complete" if r.complete else "incomplete (no marker)"
        print(f"unused: s3://{name}/{r.prefix}  {len(r.keys)} objects, {r.size / 1e9:.2f} GB, {state}")
    summary = f"{len(unused)} unused revisions, {total / 1e9:.2f} GB, about ${weights.monthly_usd(total):.2f} a month"
    if not yes:
        print(
            f"{summary}. Once every rollout of {stack} has completed (`llm-serving rollout wait {stack}`), delete "
            f"them with `llm-serving weights prune {stack} --yes`"
        )
        return
    for r in unused:
        try:
            weights.delete_revision(s3, name, r)
        except weights.WeightsError as e:
            raise _fail(str(e), EXIT_FINDINGS) from None
        print(f"deleted s3://{name}/{r.prefix}", flush=True)
    print(f"pruned {summary}")


ami_app = typer.Typer(help="The stack's pinned GPU AMI: the newest one AWS publishes, and moving the pin.")
app.add_typer(ami_app, name="ami")


@ami_app.command("latest")
def ami_latest(
    stack: StackArg,
    write: Annotated[
        bool, typer.Option("--write", help="Pin the newest AMI in Pulumi.STACK.yaml (comments and layout kept).")
    ] = False,
    region: Annotated[
        str | None, typer.Option("--region", help="Default: aws:region of the stack file, else AWS_REGION.")
    ] = None,
    project_dir: ProjectDirOpt = None,
) -> None:
    """The newest GPU AMI AWS publishes in the stack's region, beside the one the stack pins.

    Needs AWS credentials (it reads AWS's public SSM parameter and describes both images)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from infra import ami
    from infra import plan as offline
    from infra.config import region_of

    directory = project_dir or offline.PROJECT_DIR
    try:
        values, _ = offline.read_stack_config(stack, directory)
    except offline.StackFileError as e:
        raise _fail(str(e)) from None
    stack_file = directory / f"Pulumi.{stack}.yaml"
    region = region or region_of(values)
    if not region:
        raise _fail(f"no region: set aws:region in {stack_file.name} or pass --region")
    current = ami.pinned(stack_file)
    try:
        newest = ami.latest(region)
        pinned = ami.describe(region, current) if current else None
    except NoCredentialsError:
        raise _fail(
            "no AWS credentials: this reads AWS's public AMI parameter in your account (`aws configure`)"
        ) from None
    except (BotoCoreError, ClientError) as e:
        raise _fail(f"AWS refused: {e}") from None
    print(f"newest GPU AMI in {region}: {newest.id}  {newest.name or ''}  {newest.created or ''}".rstrip())
    if pinned is None:
        print(f"{stack_file.name} pins none (llm-serving:ec2.amiId)")
    elif pinned.name is None:
        print(f"{stack_file.name} pins {pinned.id}, which is not an AMI in {region}")
    else:
        print(f"{stack_file.name} pins     {pinned.id}  {pinned.name}  {pinned.created or ''}".rstrip())
    if current == newest.id:
        print("the pin is the newest: nothing to do")
        return
    if not write:
        print(
            f"to move to it: `llm-serving ami latest {stack} --write` (or `pulumi config set --path "
            f"'llm-serving:ec2.amiId' {newest.id} -s {stack}`), then `llm-serving plan {stack}`: the launch "
            "template gets a new version and `pulumi up` replaces every GPU instance by a rolling refresh that "
            "rolls back on the model's alarms"
        )
        return
    try:
        ami.pin(stack_file, newest.id)
    except ValueError as e:
        raise _fail(str(e)) from None
    print(f"pinned {newest.id} in {stack_file.name}: review `llm-serving plan {stack}`, commit, then `pulumi up`")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
