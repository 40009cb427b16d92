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
    assert len(blocks) == 3  # one per job
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "tutorial.py").write_text("\n".join(blocks))
    done = subprocess.run(
        [sys.executable, "tutorial.py"], cwd=tmp_path, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "AccuracyPredictor trained on 12 cells" in done.stdout
    assert "written: ['best_so_far.png', 'method_state.pt', 'queries.jsonl', 'result.json']" in done.stdout
    assert (tmp_path / "results" / "tutorial" / "warm-predictor" / "config.json").is_file()
