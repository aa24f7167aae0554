"""The harness' output: one table of rows (figure, baseline from the same run, ratio,
target, verdict) on stdout, and every figure as JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

HEADERS = ("scenario", "measure", "n8n-sidecar", "baseline (same run)", "ratio", "target", "")


@dataclass(frozen=True)
class Row:
    """One line of the table. `met` is None where there is no target."""

    measure: str
    value: str
    baseline: str = ""
    ratio: float = math.nan
    target: str = ""
    met: bool | None = None


@dataclass
class Outcome:
    """What one scenario measured: its rows for the table and its raw figures for JSON."""

    scenario: str
    rows: list[Row] = field(default_factory=list)
    figures: dict = field(default_factory=dict)


def verdict(met: bool | None) -> str:
    """'met', 'MISSED' or nothing."""
    return "" if met is None else ("met" if met else "MISSED")


def cells(scenario: str, row: Row) -> tuple[str, ...]:
    """The table cells of one row."""
    ratio = "" if math.isnan(row.ratio) else f"{row.ratio:.2f}x"
    return (scenario, row.measure, row.value, row.baseline, ratio, row.target, verdict(row.met))


def render_table(outcomes: list[Outcome]) -> str:
    """Every scenario's rows, columns aligned; the scenario name only on its first row."""
    lines = [HEADERS]
    for outcome in outcomes:
        for index, row in enumerate(outcome.rows):
            lines.append(cells(outcome.scenario if index == 0 else "", row))
    widths = [max(len(line[col]) for line in lines) for col in range(len(HEADERS))]
    text = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in text)


def write_json(path: Path, environment: dict, options: dict, outcomes: list[Outcome]) -> None:
    """Everything measured, for machines and for comparing runs."""
    document = {
        "environment": environment,
        "options": options,
        "scenarios": {
            outcome.scenario: {
                "figures": outcome.figures,
                "rows": [dict(asdict(row), verdict=verdict(row.met)) for row in outcome.rows],
            }
            for outcome in outcomes
        },
    }
    path.write_text(json.dumps(without_nan(document), indent=2, default=str) + "\n")


def without_nan(value: object) -> object:
    """`value` with every NaN float (no figure) turned into null, so the JSON is strict."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: without_nan(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(item) for item in value]
    return value


def ms(value: float) -> str:
    """A latency for the table."""
    return f"{value:.2f} ms"


def per_second(value: float) -> str:
    """A rate for the table."""
    return f"{value:,.0f}/s"
