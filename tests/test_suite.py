"""`benchmarks/suite.py --quick` runs end to end and writes its three report files with every run in them."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_suite_writes_json_table_and_plot(tmp_path):
    out = tmp_path / "suite"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--quick", "--seeds", "2", "--tasks", "sudoku-6x6", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]

    report = json.loads((out / "suite.json").read_text())
    runs = report["runs"]
    # 3 architectures x 2 budgets x 2 seeds, each scored on the held-out split
    assert sorted({(r["arch"], r["budget"], r["seed"]) for r in runs}) == sorted(
        (a, b, s) for a in ("hrm", "trm", "transformer") for b in ("wall", "steps") for s in (0, 1))
    for r in runs:
        assert r["task"] == "sudoku-6x6" and 0.0 <= r["exact_accuracy"] <= r["accuracy"] <= 1.0
        assert r["steps"] >= 1 and r["train_seconds"] > 0 and r["examples_per_s"] > 0 and r["parameters"] > 1000
        assert r["curve"] and r["curve"][-1]["step"] == r["steps"]  # the last eval point is the scored one
        assert [p["seconds"] for p in r["curve"]] == sorted(p["seconds"] for p in r["curve"])
        if r["budget"] == "steps":
            assert r["steps"] == 12  # the same number of optimizer steps for every model
    assert set(report["probe_steps_per_s"]) == {"sudoku-6x6/hrm", "sudoku-6x6/trm", "sudoku-6x6/transformer"}

    table = (out / "suite.md").read_text().splitlines()
    rows = [line for line in table[2:] if line.startswith("| sudoku-6x6")]
    assert len(rows) == 6  # 3 models x 2 budgets
    for line in rows:
        per_seed = line.split("|")[6].strip()
        assert len(per_seed.split(" / ")) == 2  # every seed's number is shown, not only the mean
    assert (out / "suite.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "suite.md" in done.stdout or "| task |" in done.stdout

    # --from-json redraws the table and the plot from suite.json alone
    (out / "suite.png").unlink()
    (out / "suite.md").write_text("stale")
    redo = subprocess.run([*cmd, "--from-json"], capture_output=True, text=True, timeout=120)
    assert redo.returncode == 0, redo.stderr[-2000:]
    assert (out / "suite.md").read_text().splitlines() == table and (out / "suite.png").stat().st_size > 1000
    missing = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--from-json", "--out", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no suite.json in" in missing.stderr and "Traceback" not in missing.stderr
