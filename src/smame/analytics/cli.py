"""``smame cba``: the seed's cost-benefit table and minimax-regret case as a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from smame.yamlfile import ParameterFileError

console = Console()


def _fail(message: str) -> NoReturn:
    from smame.cli import CliError

    raise CliError(message)


def cba(
    out: Annotated[Path, typer.Option(help="Directory for cba.md and its plots.")],
    params: Annotated[Path | None, typer.Option(
        help="Cost-benefit parameter file (YAML); default: the seed's table.")] = None,
    regret: Annotated[Path | None, typer.Option(
        help="Minimax-regret case (YAML); default: the seed's 15-minute case.")] = None,
) -> None:
    """Recompute the seed's 10-year cost-benefit table (SPEC A1) with its sensitivity, and
    the minimax-regret choice (SPEC A2); write a Markdown report with PNG plots."""
    from smame.analytics.cba import load_parameters
    from smame.analytics.cba_report import write_report
    from smame.analytics.regret import load_case

    try:
        table = load_parameters(params)
        case = load_case(regret)
    except ParameterFileError as exc:
        _fail(str(exc))
    if out.exists() and not out.is_dir():
        _fail(f"--out {out} is not a directory")
    try:
        report = write_report(table, case, out)
    except OSError as exc:
        _fail(f"cannot write the report into {out}: {exc.strerror}")
    result = case.solve()
    console.print(f"wrote {report}; minimax regret chooses {result.choice!r}")
