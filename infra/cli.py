"""The ``llm-serving`` command: the offline plan, and deploys through the Automation API.

Exit codes: 0 fine, 1 mandatory policy findings, 2 bad config or usage.
"""

from __future__ import annotations

import shutil
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:  # the plan imports pulumi: only load it for the commands that need it
    from infra.plan import Plan

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

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


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    for line in message.splitlines():
        err.print(f"[red]error:[/] {line}", markup=True)
    return typer.Exit(code)


@app.command()
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


@app.command()
def preview(stack: StackArg, project_dir: ProjectDirOpt = None) -> None:
    """`pulumi preview` of the stack, through the Automation API (needs the Pulumi CLI)."""
    _run("preview", stack, project_dir, diff=True)


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
    _run("up", stack, project_dir, diff=True)


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
