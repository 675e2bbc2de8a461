"""The run's report: one self-contained HTML file and the same as Markdown.

A report is a title, :class:`ReportSection` s (statements generated from the numbers, figures,
tables) and a record of what was run (:func:`run_record`: parameters, package versions, and for
every input dataset its catalog version when it has one and a content fingerprint always).
Figures are embedded as PNG (base64) in both files, so each file stands alone.
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.metadata
import json
import math
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PACKAGES: tuple[str, ...] = (
    "llm-distillation",
    "kedro",
    "kedro-datasets",
    "polars",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "pydantic",
)
"""Packages whose versions every report names."""


@dataclass(frozen=True)
class ReportSection:
    """One part of the report."""

    title: str
    statements: Sequence[str] = ()
    figures: Mapping[str, Figure | bytes] = field(default_factory=dict)
    """caption -> figure (or its PNG bytes)."""
    tables: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    """caption -> table (shown with 4 significant digits; the stored tables keep all)."""
    notes: Sequence[str] = ()
    boxed: bool = False
    """Drawn as a framed box (the opening "What this run can tell you")."""


def table_fingerprint(table: pl.DataFrame) -> str:
    """sha256 (first 16 hex digits) of the table's CSV text: the same rows read give the same
    fingerprint, on any machine."""
    return hashlib.sha256(table.write_csv().encode()).hexdigest()[:16]


INPUT_VERSIONS = "reporting_input_versions"
"""A node input of this name is filled by the project hook (``ProjectHooks.before_node_run``)
with :func:`dataset_versions` of the node's other inputs: what the catalog read."""


def dataset_versions(catalog: Any, names: Sequence[str]) -> dict[str, dict[str, str | None]]:
    """name -> {"version": the version the catalog loads (None: unversioned), "path": the file}
    for every name the catalog has; names without a file-backed dataset are left out."""
    out: dict[str, dict[str, str | None]] = {}
    for name in names:
        try:
            dataset = catalog[name]
        except Exception:  # not a catalog dataset (e.g. a MemoryDataset made by the runner)
            continue
        get_path = getattr(dataset, "_get_load_path", None)
        if get_path is None:
            continue
        try:
            version = dataset.resolve_load_version() if getattr(dataset, "_version", None) else None
            out[name] = {"version": version, "path": str(get_path())}
        except Exception as err:  # a versioned dataset with no version saved yet
            out[name] = {"version": None, "path": f"not loadable: {err}"}
    return out


def input_record(
    name: str, table: pl.DataFrame, versions: Mapping[str, Mapping[str, str | None]] | None = None
) -> dict[str, Any]:
    """What the report says about one input dataset: its catalog version and file (from
    ``versions``, :func:`dataset_versions`; "unversioned" for a dataset without versions, "not
    recorded" when ``versions`` does not name it), rows, columns and content fingerprint."""
    entry = (versions or {}).get(name)
    if entry is None:
        version, path = "not recorded", ""
    else:
        version, path = entry.get("version") or "unversioned", entry.get("path") or ""
    return {
        "dataset": name,
        "version": version,
        "path": path,
        "rows": table.height,
        "columns": table.width,
        "fingerprint": table_fingerprint(table),
    }


def run_record(
    parameters: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
    packages: Sequence[str] = PACKAGES,
    created: datetime | None = None,
) -> dict[str, Any]:
    """The "what was run" part: parameters, input records (:func:`input_record`), package and
    Python versions, creation time (UTC)."""
    versions = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "created": (created or datetime.now(UTC)).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "parameters": json.loads(json.dumps(parameters, default=str)),
        "inputs": [dict(i) for i in inputs],
        "packages": versions,
    }


def _png(fig: Figure | bytes) -> bytes:
    if isinstance(fig, bytes):
        return fig
    from llm_distillation.reporting.figures import figure_png

    return figure_png(fig)


def _cell(value: Any) -> str:
    """A table cell's text: blank for a missing value (the row's note says why), 4 significant
    digits, ``∞`` / ``−∞``, and ``undefined`` for NaN (the analyses give reasons instead of
    NaN; this keeps ``nan`` out of the report even if one slips through)."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "undefined"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:.4g}"
    return str(value)


def display_table(table: pl.DataFrame) -> pl.DataFrame:
    """The table without its all-null columns (what the report shows)."""
    keep = [c for c in table.columns if table[c].null_count() < table.height]
    return table.select(keep) if keep else table


def render_markdown(title: str, sections: Sequence[ReportSection], run: Mapping[str, Any]) -> str:
    """The report as Markdown (GitHub-style tables, figures as embedded PNG data URIs)."""
    lines = [f"# {title}", "", f"Created {run['created']} (UTC).", ""]
    for section in sections:
        statements = [f"- {s}" for s in section.statements]
        if section.boxed:  # a quoted block: GitHub draws it framed
            lines += [f"> **{section.title}**", ">", *(f"> {s}" for s in statements), ""]
        else:
            lines += [f"## {section.title}", "", *statements]
            lines += [""] if statements else []
        lines += [f"_{n}_" for n in section.notes] + ([""] if section.notes else [])
        for caption, fig in section.figures.items():
            data = base64.b64encode(_png(fig)).decode()
            lines += [f"![{caption}](data:image/png;base64,{data})", "", f"*{caption}*", ""]
        for caption, table in section.tables.items():
            lines += [f"**{caption}**", "", *_markdown_table(display_table(table)), ""]
    lines += ["## What was run", "", *_markdown_run(run)]
    return "\n".join(lines).rstrip() + "\n"


def _markdown_table(table: pl.DataFrame) -> list[str]:
    if table.height == 0:
        return ["(no rows)"]
    esc = [str(c).replace("|", "\\|") for c in table.columns]
    out = ["| " + " | ".join(esc) + " |", "|" + "---|" * len(esc)]
    for row in table.iter_rows():
        out.append("| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |")
    return out


def _markdown_run(run: Mapping[str, Any]) -> list[str]:
    inputs = pl.DataFrame(run["inputs"]) if run["inputs"] else pl.DataFrame()
    packages = pl.DataFrame(
        {"package": list(run["packages"]), "version": list(run["packages"].values())}
    )
    return [
        "**Inputs**",
        "",
        *_markdown_table(inputs),
        "",
        f"**Packages** (Python {run['python']})",
        "",
        *_markdown_table(packages),
        "",
        "**Parameters**",
        "",
        "```json",
        json.dumps(run["parameters"], indent=2, sort_keys=True),
        "```",
    ]


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.5em 0 1.5em; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.85em; color: #555; } .note { color: #555; font-style: italic; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
section.box { border: 2px solid #0072B2; border-radius: 6px; background: #f3f8fc;
              padding: 0 1.2em 0.6em; margin-top: 1em; }
section.box h2 { border-bottom: none; margin-top: 0.8em; }
"""


def render_html(title: str, sections: Sequence[ReportSection], run: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1><p>Created {e(run['created'])} (UTC).</p>",
    ]
    for section in sections:
        css = ' class="box"' if section.boxed else ""
        parts.append(f"<section{css}><h2>{e(section.title)}</h2>")
        if section.statements:
            parts.append("<ul>" + "".join(f"<li>{e(s)}</li>" for s in section.statements) + "</ul>")
        parts += [f'<p class="note">{e(n)}</p>' for n in section.notes]
        for caption, fig in section.figures.items():
            data = base64.b64encode(_png(fig)).decode()
            parts.append(
                f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{e(caption)}</figcaption></figure>"
            )
        for caption, table in section.tables.items():
            parts.append(f"<h3>{e(caption)}</h3>{_html_table(display_table(table))}")
        parts.append("</section>")
    inputs = pl.DataFrame(run["inputs"]) if run["inputs"] else pl.DataFrame()
    packages = pl.DataFrame(
        {"package": list(run["packages"]), "version": list(run["packages"].values())}
    )
    parts += [
        "<section><h2>What was run</h2><h3>Inputs</h3>",
        _html_table(inputs),
        f"<h3>Packages (Python {e(run['python'])})</h3>",
        _html_table(packages),
        "<h3>Parameters</h3><pre>",
        e(json.dumps(run["parameters"], indent=2, sort_keys=True)),
        "</pre></section></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _html_table(table: pl.DataFrame) -> str:
    if table.height == 0:
        return "<p>(no rows)</p>"
    e = html.escape
    numeric = [dt.is_numeric() for dt in table.dtypes]
    head = "".join(f"<th>{e(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{e(_cell(v))}</td>' if num else f"<td>{e(_cell(v))}</td>"
            for v, num in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in table.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_report(
    title: str, sections: Sequence[ReportSection], run: Mapping[str, Any]
) -> tuple[str, str]:
    """(HTML, Markdown) of the same report."""
    return render_html(title, sections, run), render_markdown(title, sections, run)
