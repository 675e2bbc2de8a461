"""The reporting pipeline through a KedroSession on a temporary data folder (the study's own
results data), and the evaluation analysis on hand-made evaluation outputs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from llm_distillation.reporting.performance import CONDITIONS
from llm_distillation.reporting.tidy import RESULT_SCHEMA
from tests.kedro_session import run_pipelines

OUT = Path("08_reporting") / "reporting"


def _latest(path: Path) -> Path:
    versions = sorted(p.name for p in path.iterdir())
    return path / versions[-1] / path.name


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("reporting_run")
    run_pipelines(
        ["reporting"],
        root,
        params={
            "shared_data_dir": str(shared_data),
            "reporting": {"study": {"permutations": 100}},
        },
        tags=["study_analysis"],  # the evaluation analysis needs evaluation outputs
    )
    return root


def test_tables_are_versioned_full_precision(run_dir: Path) -> None:
    tests = pl.read_parquet(_latest(run_dir / OUT / "study" / "performance_tests.parquet"))
    assert dict(tests.schema) == RESULT_SCHEMA
    anova = tests.filter((pl.col("test") == "anova_type2") & (pl.col("term") == "condition"))
    assert anova["statistic"][0] == pytest.approx(124.228591308, rel=1e-9)  # R, not rounded
    ratings = pl.read_parquet(_latest(run_dir / OUT / "study" / "ratings_tests.parquet"))
    npmv = ratings.filter(pl.col("test") == "nonparametric_manova")
    assert npmv["note"][0] == "100 permutations, seed 0"  # the runtime parameter reached it
    for name in (
        "performance_summary",
        "performance_outliers",
        "ratings_summary",
        "ratings_outliers",
        "ratings_relative_effects",
    ):
        assert _latest(run_dir / OUT / "study" / f"{name}.parquet").is_file()


def test_figures_and_report(run_dir: Path) -> None:
    for name in ("accuracy_by_condition", "rating_items", "rationale_length", "length_vs_quality"):
        png = _latest(run_dir / OUT / "study" / f"{name}.png")
        assert png.read_bytes()[:4] == b"\x89PNG"
    html = _latest(run_dir / OUT / "study" / "report.html").read_text()
    md = _latest(run_dir / OUT / "study" / "report.md").read_text()
    for text in (html, md):
        for condition in CONDITIONS:
            assert condition in text
        assert (
            "MT:Unrevised beats CF:Unrevised by 12.7 points at 220M (Tukey HSD, p &lt; 0.001)"
            in text.replace("p < 0.001", "p &lt; 0.001")
        )
        assert "paper_results/experiment.csv" in text  # the file the catalog read (the hook)
        assert "unversioned" in text
    assert html.count("data:image/png;base64,") == 4


def test_bad_parameter_is_named(tmp_path: Path, shared_data: Path) -> None:
    with pytest.raises(ValueError, match=r"reporting\.study\.dunn_p_adjust"):
        run_pipelines(
            ["reporting"],
            tmp_path,
            params={
                "shared_data_dir": str(shared_data),
                "reporting": {"study": {"dunn_p_adjust": "bonferoni"}},
            },
        )


def _evaluation_inputs(
    seeds: int, unparseable: bool = False, conditions: dict[str, float] | None = None
) -> dict[str, pl.DataFrame]:
    """Evaluation outputs as the evaluation pipeline stacks them (condition keys, option
    indices, per-run n / CI / unparseable share); ``unparseable``: no answer states an option
    (the default run of issue 14); ``conditions``: key -> accuracy."""
    conditions = conditions or {"standard": 0.5, "mt_unrevised": 0.7}
    rows = []
    for c, acc in conditions.items():
        for s in range(seeds):
            for i in range(40):
                right = (i * 7 + s) % 10 < acc * 10 + s and not unparseable
                gold = i % 5
                rows.append(
                    {
                        "example_id": f"e{i}",
                        "benchmark": "cqa",
                        "student": "small",
                        "condition": c,
                        "seed": s,
                        "correct": right,
                        "predicted_index": None
                        if unparseable
                        else (gold if right else (gold + 1) % 5),
                        "gold_index": gold,
                    }
                )
    predictions = pl.DataFrame(rows)
    accuracy = predictions.group_by(["benchmark", "student", "condition", "seed"]).agg(
        pl.col("correct").mean().alias("accuracy"),
        pl.len().alias("n"),
        (pl.col("correct").mean() - 0.1).clip(0, 1).alias("ci_low"),
        (pl.col("correct").mean() + 0.1).clip(0, 1).alias("ci_high"),
        pl.col("predicted_index").is_null().mean().alias("unparseable"),
    )
    metrics = pl.DataFrame(
        [
            {
                "example_id": f"e{i}",
                "condition": c,
                "seed": 0,
                "metric": metric,
                "value": value,
            }
            for c in conditions
            for i in range(40)
            for metric, value in (
                ("words", float(100 + i + (50 if c == "mt_unrevised" else 0))),
                ("cf_faithfulness", 0.0),  # all equal: Dunn z would be nan
            )
        ]
    )
    skipped = pl.DataFrame(
        [
            {"cell": f"cqa_small_{c}", "benchmark": "cqa", "student": "small", "condition": c,
             "split": "test", "metric": "las", "reason": "no teacher rationales in the test table"}
            for c in conditions
        ]
    )  # fmt: skip
    curves = pl.DataFrame(
        [
            {"cell": f"cqa_small_{c}", "benchmark": "cqa", "student": "small", "condition": c,
             "seed": 0, "step": step, "split": split,
             "metric": "loss", "value": 3.0 / step + (0.1 if split == "dev" else 0.0)}
            for c in conditions
            for step in (1, 2, 4)
            for split in ("train", "dev")
        ]
    )  # fmt: skip
    return {
        "acc": accuracy,
        "pred": predictions,
        "met": metrics,
        "skipped": skipped,
        "curves": curves,
    }


def _kept_dataset() -> type:
    from kedro.io import MemoryDataset

    class Kept(MemoryDataset):
        """A MemoryDataset that the runner cannot release (the test reads every output)."""

        def _release(self) -> None:
            pass

    return Kept


def _run_evaluation_analysis(
    inputs: dict[str, pl.DataFrame], conditions: tuple[str, ...] = ("standard", "mt_unrevised")
) -> Any:
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from llm_distillation.pipelines.reporting import create_evaluation_pipeline

    _Kept = _kept_dataset()
    pipeline = create_evaluation_pipeline(
        accuracy="acc",
        predictions="pred",
        metrics="met",
        curves=["curves"],
        skipped="skipped",
        option_accuracy="oacc",
        option_predictions="opred",
    )
    # option log-likelihood answers: the generated ones' rows, all parsed (a format-free score)
    inputs.setdefault(
        "oacc", inputs["acc"].with_columns(view=pl.lit("option_loglik"), accuracy=pl.lit(0.4))
    )
    inputs.setdefault(
        "opred",
        inputs["pred"].with_columns(
            view=pl.lit("option_loglik"), predicted_index=pl.col("gold_index")
        ),
    )
    catalog = DataCatalog(
        {
            **{k: MemoryDataset(v) for k, v in inputs.items()},
            "params:reporting": MemoryDataset(
                {
                    "evaluation": {
                        "conditions": list(conditions),
                        "students": {"small": "S"},
                    }
                }
            ),
            "params:student_training": MemoryDataset({}),  # the study's named conditions
            "reporting_input_versions": MemoryDataset({}),  # no hooks here: "not recorded"
            **{n: _Kept() for n in pipeline.all_outputs()},
        }
    )
    SequentialRunner().run(pipeline, catalog)
    return catalog


_NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def _text(report: str) -> str:
    """The report without its embedded images (base64 may spell anything)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report)


def _findings(catalog: Any) -> tuple[str, list[str]]:
    """The HTML report and, of the HTML and the Markdown report, the text before "What was
    run" (neither may say nan anywhere)."""
    html = catalog["evaluation_report_html"].load()
    out = []
    for report in (html, catalog["evaluation_report_md"].load()):
        text = _text(report)
        assert not _NAN.search(text), _NAN.search(text)
        out.append(text.split("What was run")[0])
    return html, out


@pytest.mark.parametrize("seeds", [1, 3])
def test_evaluation_analysis_pipeline(seeds: int) -> None:
    catalog = _run_evaluation_analysis(_evaluation_inputs(seeds))
    acc_tests = catalog["evaluation_accuracy_tests"].load()
    not_run = acc_tests.filter(pl.col("note").str.starts_with("not possible"))
    assert (not_run.height > 0) == (seeds == 1)
    paired = catalog["evaluation_paired_tests"].load()
    assert set(paired["test"]) == {"mcnemar", "gee_logit"}
    assert paired.filter(pl.col("test") == "mcnemar")["groups"][0] == "MT:Unrevised vs Standard"
    metric_tests = catalog["evaluation_metric_tests"].load()
    kw = metric_tests.filter(pl.col("test") == "kruskal_wallis")
    assert kw.filter(pl.col("variable") == "words")["p"][0] < 1e-6
    cells = catalog["evaluation_cells"].load()
    assert cells["condition"].to_list() == ["Standard", "MT:Unrevised"]
    assert cells["chance"].to_list() == [0.2, 0.2]
    html, findings_of = _findings(catalog)
    for findings in findings_of:
        assert "mt_unrevised" not in findings and "MT:Unrevised vs Standard" in findings
        assert "What this run can tell you" in findings
        assert "Chance level (guessing one option): cqa 20.0% (1 of 5 options)." in findings
        assert "Smallest detectable difference on cqa" in findings
        assert "Not computed (no teacher rationales in the test table): las; cells " in findings
        assert "Kruskal-Wallis on cf_faithfulness not possible: all values are equal (0)" in (
            findings
        )
        assert findings.count("Tukey HSD on accuracy not possible: one seed per condition") == (
            seeds == 1
        )
    assert html.index('<section class="box">') < html.index("<h2>Accuracy by condition")
    assert "Generated answers vs option log-likelihood" in html
    option_paired = catalog["evaluation_option_paired_tests"].load()
    assert "mcnemar" in set(option_paired["test"])
    assert "not recorded" in html
    figure = catalog["evaluation_accuracy_figure"].load()
    assert any(line.get_label() == "chance (20%)" for line in figure.axes[0].lines)
    curves = catalog["evaluation_training_curves_figure"].load()
    titles = [ax.get_title() for ax in curves.axes if ax.get_visible()]
    assert titles == ["cqa · S · Standard", "cqa · S · MT:Unrevised"]  # names, report order


def test_evaluation_report_of_an_all_unparseable_one_seed_run() -> None:
    """Issue 14's default run: one seed, every answer unparseable, accuracy 0."""
    catalog = _run_evaluation_analysis(_evaluation_inputs(1, unparseable=True))
    _, findings_of = _findings(catalog)
    for findings in findings_of:
        assert "Parseable answers (stating one option): 0.0% of all answers" in findings
        assert "McNemar and GEE on correct not possible: all answers unparseable; cells cqa/S" in (
            findings
        )
        assert findings.count("Tukey HSD on accuracy not possible: one seed per condition") == 1
        accuracy = findings.split("Automatic explanation metrics")[0]
        assert "higher than" not in accuracy and " beats " not in accuracy
        assert "cqa/S/Standard: 0.0% correct" in findings
    paired = catalog["evaluation_paired_tests"].load()
    assert set(paired["note"]) == {"not possible: all answers unparseable"}


def test_the_report_opens_with_trained_against_untrained() -> None:
    """An untrained baseline in the matrix: the box's first sentence is the option
    log-likelihood comparison with it, by its McNemar p (the inputs' option answers are the
    generated ones: Standard right on 36 of 40, Untrained on 8)."""
    inputs = _evaluation_inputs(1, conditions={"untrained": 0.2, "standard": 0.9})
    inputs["oacc"] = inputs["acc"].with_columns(view=pl.lit("option_loglik"))
    inputs["opred"] = inputs["pred"].with_columns(view=pl.lit("option_loglik"))
    catalog = _run_evaluation_analysis(inputs, conditions=("standard", "untrained"))
    option_paired = catalog["evaluation_option_paired_tests"].load()
    row = option_paired.filter(pl.col("test") == "mcnemar").row(0, named=True)
    assert (row["group1"], row["group2"]) == ("Standard", "Untrained") and row["p"] < 0.001
    _, findings_of = _findings(catalog)
    for findings in findings_of:
        box = findings.split("What this run can tell you", 1)[1]
        first = re.search(r"Training changed the students[^\n<]*", box)
        assert first and box.index(first.group(0)) < box.index("Compared:"), box[:600]
        assert (
            "Standard beats Untrained by 70.0 points on the same 40 test examples by option "
            "log-likelihood: 90.0% correct against 20.0%"
        ) in first.group(0)
        assert "no untrained baseline" not in findings
