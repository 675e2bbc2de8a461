"""scripts/report_screenshot.sh: the first screen of a report, by headless Chromium."""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llm_distillation.reporting.report import ReportSection, build_report, run_record

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "report_screenshot.sh"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium (apt-get install)")
def test_report_first_screen(tmp_path: Path) -> None:
    box = ReportSection("What this run can tell you", statements=["One seed."], boxed=True)
    run = run_record({}, [], created=datetime(2026, 1, 2, tzinfo=UTC))
    html, _ = build_report("Report", [box], run)
    report = tmp_path / "report.html"
    report.write_text(html)
    out = tmp_path / "shot" / "first.png"
    subprocess.run(
        [str(SCRIPT), str(report), str(out)],
        check=True,
        capture_output=True,
        timeout=180,
        env={"PATH": "/usr/bin:/bin", "WIDTH": "800", "HEIGHT": "600"},
    )
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (800, 600)  # the window: the first screen


def test_missing_report_is_named(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), str(tmp_path / "none.html"), str(tmp_path / "x.png")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CHROMIUM": "true"},
    )
    assert result.returncode == 1
    assert f"no report at {tmp_path / 'none.html'}" in result.stderr
