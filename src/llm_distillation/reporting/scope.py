"""What a run of this project's evaluation can tell its reader (the report's opening box).

- :func:`condition_labels` / :func:`condition_order` / :func:`label_runs`: the study's names of
  the conditions (``MT+CF:Revised``, the ``label`` of a condition,
  :data:`llm_distillation.training.conditions.NAMED_CONDITIONS`) and the students' labels, in
  every table of the report;
- :func:`answer_options`: the number of answer options per benchmark, from the predictions'
  option indices (at least :data:`llm_distillation.schema.N_OPTIONS`), hence the chance level;
- :func:`cell_table`: seeds, test examples, accuracy and the share of parseable answers per
  (benchmark, student, condition);
- :func:`scope_statements`: the box's sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

CELL_KEYS: tuple[str, ...] = ("benchmark", "student", "condition")
RUN_KEYS: tuple[str, ...] = (*CELL_KEYS, "seed")

CELL_SCHEMA: dict[str, pl.DataType] = {
    "benchmark": pl.String(),
    "student": pl.String(),
    "condition": pl.String(),
    "seeds": pl.Int64(),
    "examples": pl.Int64(),  # test examples per seed (the fewest, if the seeds differ)
    "accuracy": pl.Float64(),  # mean over seeds, a fraction
    "accuracy_min": pl.Float64(),  # lowest and highest seed
    "accuracy_max": pl.Float64(),
    "ci_low": pl.Float64(),  # one seed: its bootstrap 95% CI; several: null (see the runs)
    "ci_high": pl.Float64(),
    "parseable": pl.Float64(),  # share of answers that state an option (null: not recorded)
    "options": pl.Int64(),  # answer options of the benchmark (null: unknown)
    "chance": pl.Float64(),  # 1 / options
}
"""Columns of :func:`cell_table` (``evaluation_cells``)."""

UNFAIR_PARSEABLE = 0.9
"""Below this share of parseable answers, a cell's generated accuracy is said to be no fair
score (an untrained student, say): the answer format, not the task, decides it."""

LARGER_RUNS = (
    "For more seeds and test examples, see the conf/cpu_study environment (its measured "
    "results: docs/results_cpu.md) and the study's scale, conf/paper (docs/running.md)."
)


def condition_labels(
    conditions: Sequence[str], student_training: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Condition key -> the study's name: the ``label`` of the condition as
    ``student_training.conditions`` declares it (else the study's named condition of that key);
    a condition without a label, an unknown key, or a label that two conditions would share
    keeps its key (of two sharing one, the study's named condition of that label keeps it)."""
    from llm_distillation.training.conditions import NAMED_CONDITIONS, condition_spec

    declared = dict((student_training or {}).get("conditions") or {})
    labels: dict[str, str] = {}
    for key in dict.fromkeys(conditions):
        try:
            spec = condition_spec(declared.get(key, key), setting=f"conditions.{key}")
        except ValueError:
            labels[key] = key
            continue
        labels[key] = spec.label or key
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    named = {spec.label: key for key, spec in NAMED_CONDITIONS.items()}
    return {k: (v if counts[v] == 1 or named.get(v) == k else k) for k, v in labels.items()}


def condition_order(labels: Mapping[str, str], order: Sequence[str] | None = None) -> list[str]:
    """The labels of ``labels`` (key -> label) in report order, reference first: ``order``
    (keys or labels) first, then the study's named conditions in their order (``standard``
    first; by key or by label, so already labelled names sort the same), then the others
    sorted."""
    from llm_distillation.training.conditions import NAMED_CONDITIONS

    by_any = {**dict(labels), **{v: v for v in labels.values()}}
    named = [n for key, spec in NAMED_CONDITIONS.items() for n in (key, spec.label) if n]
    out: list[str] = []
    for name in [*(order or []), *named]:
        label = by_any.get(name)
        if label is not None and label not in out:
            out.append(label)
    return out + sorted(set(labels.values()) - set(out))


def label_runs(
    table: pl.DataFrame,
    labels: Mapping[str, str],
    students: Mapping[str, str] | None = None,
    conditions: Sequence[str] | None = None,
) -> pl.DataFrame:
    """``table`` with ``condition`` replaced by its label (``labels``, key -> label) and
    ``student`` by its label (``students``, name -> label; when given, other students are
    left out); ``conditions`` (keys or labels), when given, keeps only those."""
    out = table
    if "condition" in out.columns:
        if conditions:
            wanted = set(conditions) | {labels.get(c, c) for c in conditions}
            out = out.filter(
                pl.col("condition").is_in(list(wanted))
                | pl.col("condition").replace(dict(labels)).is_in(list(wanted))
            )
        out = out.with_columns(pl.col("condition").cast(pl.String).replace(dict(labels)))
    if students and "student" in out.columns:
        out = out.filter(pl.col("student").is_in(list(students))).with_columns(
            pl.col("student").cast(pl.String).replace_strict(dict(students))
        )
    return out


def answer_options(
    predictions: pl.DataFrame, benchmarks: Sequence[str] | None = None
) -> dict[str, int | None]:
    """Benchmark -> its number of answer options: the highest option index in the predictions
    (``gold_index``, ``predicted_index``) plus one, and at least the benchmark's
    :data:`~llm_distillation.schema.N_OPTIONS` (a small sample may not show every option);
    None when neither says."""
    from llm_distillation.schema import N_OPTIONS

    names = list(benchmarks or predictions["benchmark"].unique().sort().to_list())
    index_cols = [c for c in ("gold_index", "predicted_index") if c in predictions.columns]
    seen: dict[str, int] = {}
    if index_cols and predictions.height:
        highest = predictions.group_by("benchmark").agg(
            pl.max_horizontal(*(pl.col(c).max() for c in index_cols)).alias("top")
        )
        seen = {
            r["benchmark"]: r["top"] + 1
            for r in highest.iter_rows(named=True)
            if r["top"] is not None
        }
    out: dict[str, int | None] = {}
    for name in names:
        candidates = [v for v in (seen.get(name), N_OPTIONS.get(name)) if v is not None]
        out[name] = max(candidates) if candidates else None
    return out


def cell_table(
    accuracy: pl.DataFrame,
    predictions: pl.DataFrame | None = None,
    options: Mapping[str, int | None] | None = None,
) -> pl.DataFrame:
    """One row per (benchmark, student, condition) of the per-run ``accuracy`` table
    (``benchmark, student, condition, seed, accuracy`` + ``n``, ``ci_low``, ``ci_high``,
    ``unparseable`` when recorded): :data:`CELL_SCHEMA`. A column the accuracy table lacks is
    taken from ``predictions`` (one row per answer; ``predicted_index`` null = unparseable)
    where it can be, else left null."""
    runs = accuracy
    if predictions is not None and predictions.height:
        per_run = predictions.group_by(list(RUN_KEYS)).agg(
            pl.len().alias("_n"),
            *(
                [pl.col("predicted_index").is_null().mean().alias("_unparseable")]
                if "predicted_index" in predictions.columns
                else []
            ),
        )
        runs = runs.join(per_run, on=list(RUN_KEYS), how="left")
        if "n" not in runs.columns:
            runs = runs.rename({"_n": "n"})
        if "unparseable" not in runs.columns and "_unparseable" in runs.columns:
            runs = runs.rename({"_unparseable": "unparseable"})
    for column in ("n", "ci_low", "ci_high", "unparseable"):
        if column not in runs.columns:
            runs = runs.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))
    one_seed = pl.col("seed").n_unique() == 1
    cells = (
        runs.group_by(list(CELL_KEYS), maintain_order=True)
        .agg(
            pl.col("seed").n_unique().alias("seeds"),
            pl.col("n").min().cast(pl.Int64).alias("examples"),
            pl.col("accuracy").mean().alias("accuracy"),
            pl.col("accuracy").min().alias("accuracy_min"),
            pl.col("accuracy").max().alias("accuracy_max"),
            pl.when(one_seed).then(pl.col("ci_low").first()).alias("ci_low"),
            pl.when(one_seed).then(pl.col("ci_high").first()).alias("ci_high"),
            (1.0 - (pl.col("unparseable") * pl.col("n")).sum() / pl.col("n").sum())
            .fill_nan(None)
            .alias("parseable"),
            pl.col("unparseable").is_null().any().alias("_unrecorded"),
        )
        .with_columns(
            pl.when(~pl.col("_unrecorded")).then(pl.col("parseable")).alias("parseable"),
            pl.col("benchmark")
            .replace_strict(dict(options or {}), default=None, return_dtype=pl.Int64)
            .alias("options"),
        )
        .with_columns((1.0 / pl.col("options")).alias("chance"))
    )
    return cells.select(pl.col(c).cast(t) for c, t in CELL_SCHEMA.items())


def cell_name(row: Mapping[str, Any]) -> str:
    """``benchmark/student/condition`` of a cell row."""
    return "/".join(str(row[k]) for k in CELL_KEYS)


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _span(values: Sequence[int], unit: str) -> str:
    low, high = min(values), max(values)
    plural = unit if high == 1 else f"{unit}s"
    return f"{low} {plural}" if low == high else f"{low} to {high} {plural}"


def _names(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "none"


def scope_statements(
    cells: pl.DataFrame,
    alpha: float = 0.05,
    power: float = 0.8,
    conditions: Sequence[str] | None = None,
    paired: Mapping[str, pl.DataFrame] | None = None,
) -> list[str]:
    """The sentences of "What this run can tell you" from :func:`cell_table`'s rows: what was
    compared, seeds and test examples per cell, the share of parseable answers, the chance
    level, the smallest detectable difference per benchmark (:func:`detectable_statements` of
    the McNemar rows of ``paired``: answer kind -> paired result table), and where larger runs
    are."""
    if cells.height == 0:
        return ["This run evaluated no cells: there is nothing to compare.", LARGER_RUNS]
    benchmarks = cells["benchmark"].unique(maintain_order=True).sort().to_list()
    students = cells["student"].unique(maintain_order=True).to_list()
    present = cells["condition"].unique(maintain_order=True).to_list()
    order = [c for c in (conditions or []) if c in present] + sorted(
        set(present) - set(conditions or [])
    )
    out = [
        f"Compared: {len(benchmarks)} benchmark{'s' * (len(benchmarks) > 1)} "
        f"({_names(benchmarks)}), {len(students)} student{'s' * (len(students) > 1)} "
        f"({_names(students)}) and {len(order)} condition{'s' * (len(order) > 1)} "
        f"({_names(order)}): {cells.height} cells."
    ]
    seeds = cells["seeds"].to_list()
    examples = [e for e in cells["examples"].to_list() if e is not None]
    per_cell = f"Each cell: {_span(seeds, 'seed')}"
    per_cell += f" and {_span(examples, 'test example')} per seed." if examples else "."
    if max(seeds) < 2:
        per_cell += (
            " With one seed per condition, the tests across seeds (ANOVA, Tukey) cannot run: "
            "only the paired tests on the same test examples compare conditions."
        )
    out.append(per_cell)
    recorded = cells.filter(pl.col("parseable").is_not_null())
    if recorded.height:
        weights = recorded["examples"].fill_null(1) * recorded["seeds"]
        overall = float((recorded["parseable"] * weights).sum() / weights.sum())
        worst = recorded.sort("parseable").row(0, named=True)
        text = f"Parseable answers (stating one option): {_pct(overall)} of all answers"
        if recorded.height > 1:
            text += f"; lowest cell {cell_name(worst)}: {_pct(worst['parseable'])}"
        out.append(text + ". An unparseable answer counts as wrong.")
    else:
        out.append("Parseable answers: not recorded by this evaluation.")
    chance = []
    for benchmark in benchmarks:
        options = cells.filter(pl.col("benchmark") == benchmark)["options"][0]
        chance.append(
            f"{benchmark} {_pct(1 / options)} (1 of {options} options)"
            if options
            else f"{benchmark} unknown (the predictions carry no option indices)"
        )
    out.append("Chance level (guessing one option): " + "; ".join(chance) + ".")
    out += detectable_statements(paired or {}, benchmarks, alpha, power)
    out.append(
        f"Every sentence below claims a direction only when its test gives p < α = {alpha:g}; "
        "the tables keep every p-value."
    )
    out.append(LARGER_RUNS)
    return out


def detectable_statements(
    paired: Mapping[str, pl.DataFrame],
    benchmarks: Sequence[str],
    alpha: float = 0.05,
    power: float = 0.8,
) -> list[str]:
    """Per benchmark, the smallest accuracy difference the report's paired test (McNemar on the
    same test examples) detects with ``power`` at ``alpha``: each McNemar row's ``detectable``
    (:func:`llm_distillation.reporting.paired.mcnemar_detectable`, at the share of examples on
    which the two conditions' answers differ in correctness), over the pairs of conditions and
    the answer kinds of ``paired`` (kind -> result table)."""
    out = []
    for benchmark in benchmarks:
        found: list[tuple[float, str, str, int]] = []
        for kind, table in paired.items():
            if table.height == 0:
                continue
            rows = table.filter(
                pl.col("test").str.starts_with("mcnemar")
                & pl.col("subset").str.contains(f"benchmark={benchmark},", literal=True)
            )
            found += [
                (r["detectable"], f"{r['groups']}, {kind}", kind, r["n"])
                for r in rows.iter_rows(named=True)
                if r["detectable"] is not None
            ]
        if not found:
            out.append(
                f"On {benchmark}, no pair of conditions has a paired test that can detect a "
                f"difference with {power:.0%} power at α = {alpha:g} (one condition, too few "
                "test examples, or no examples on which two conditions differ)."
            )
            continue
        found.sort()
        n = min(f[3] for f in found)
        low, high = found[0], found[-1]
        span = (
            f"{100 * low[0]:.1f} points ({low[1]})"
            if len(found) == 1
            else f"from {100 * low[0]:.1f} points ({low[1]}) to {100 * high[0]:.1f} points "
            f"({high[1]}) over {len(found)} comparisons"
        )
        out.append(
            f"Smallest detectable difference on {benchmark}: {span}. McNemar's test on the same "
            f"{n} test examples finds a difference of that size with {power:.0%} power at "
            f"α = {alpha:g}, given the share of examples on which the two conditions differ; "
            "smaller differences may go unnoticed, and 'no difference detected' does not mean "
            "'no difference'."
        )
    return out


def cell_statements(cells: pl.DataFrame, conditions: Sequence[str] | None = None) -> list[str]:
    """One sentence per cell: its accuracy with the 95% CI (one seed) or the range over seeds,
    beside the chance level and its share of parseable answers; the estimate only, no claim.
    A cell with fewer than :data:`UNFAIR_PARSEABLE` parseable answers is said to have no fair
    generated score (option log-likelihood is its fair one)."""
    rank = {c: i for i, c in enumerate(conditions or [])}
    rows = sorted(
        cells.iter_rows(named=True),
        key=lambda r: (
            r["benchmark"],
            r["student"],
            rank.get(r["condition"], len(rank)),
            r["condition"],
        ),
    )
    out = []
    for row in rows:
        n = row["examples"]
        size = f", {n} test examples" if n else ""
        if row["seeds"] == 1 and row["ci_low"] is not None and row["ci_high"] is not None:
            spread = f"95% CI {_pct(row['ci_low'])} to {_pct(row['ci_high'])}, one seed{size}"
        elif row["seeds"] == 1:
            spread = f"one seed{size}"
        else:
            spread = (
                f"mean of {row['seeds']} seeds, from {_pct(row['accuracy_min'])} to "
                f"{_pct(row['accuracy_max'])}{size} each"
            )
        chance = f"; chance {_pct(row['chance'])}" if row["chance"] is not None else ""
        parse = f"; {_pct(row['parseable'])} parseable" if row["parseable"] is not None else ""
        text = f"{cell_name(row)}: {_pct(row['accuracy'])} correct ({spread}{chance}{parse})."
        if row["parseable"] is not None and row["parseable"] < UNFAIR_PARSEABLE:
            text += (
                f" {_pct(1 - row['parseable'])} of its answers state no option and count as "
                "wrong, so this is not a fair score of what it knows: its accuracy by option "
                "log-likelihood is."
            )
        out.append(text)
    return out


def skipped_summary(skipped: pl.DataFrame) -> pl.DataFrame:
    """The evaluation's skipped metrics (``evaluation.skipped_metrics_all``) as the report's
    table: one row per (metric, reason) with its cells (``benchmark/student/condition``)."""
    cells = pl.concat_str("benchmark", "student", "condition", separator="/")
    return (
        skipped.with_columns(cells.alias("cell"))
        .group_by(["metric", "reason"], maintain_order=True)
        .agg(pl.col("cell").unique(maintain_order=True).str.join(", ").alias("cells"))
    )
