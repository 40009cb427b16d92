"""docs/tutorial.md runs as written: its Python blocks, in order, in a fresh folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_tutorial_runs_as_written(tmp_path):
    text = (ROOT / "docs" / "tutorial.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 8  # one per job, then five for a space of one's own
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "tutorial.py").write_text("\n".join(blocks))
    done = subprocess.run(
        [sys.executable, "tutorial.py"], cwd=tmp_path, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "AccuracyPredictor trained on 12 cells" in done.stdout
    assert "written: ['best_so_far.png', 'method_state.pt', 'queries.jsonl', 'result.json']" in done.stdout
    assert (tmp_path / "results" / "tutorial" / "warm-predictor" / "config.json").is_file()
    # a space of one's own: defined in the tutorial, searched three ways and learnt by a predictor
    out = done.stdout
    assert "has 12 neighbours; JSON round trip: True" in out
    assert "refused: ops[0] must be one of conv3, conv1, pool, got 'conv5'" in out
    for method in ("netembed", "regularized_evolution", "random"):
        assert re.search(rf"^{method}: best \S+ accuracy 0\.\d+, rank \d+ of 1296$", out, flags=re.MULTILINE), method
    tau = re.search(r"^chain predictor: Kendall tau ([-\d.]+) on 1246 held-out", out, flags=re.MULTILINE)
    assert tau and float(tau[1]) > 0.5, out[-2000:]  # 0.79 measured: the graph view carries the structure
