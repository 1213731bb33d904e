"""The suite relies on `--dist loadgroup` to keep each expensive fixture (one grading batch, one
browser) on one worker; a pytest/pytest-xdist pair that ignores `xdist_group` would silently run
them twice. Checked on a tiny suite of its own."""
from __future__ import annotations

import os
import subprocess
import sys

PROBE = '''
import os, pytest
@pytest.mark.xdist_group("one")
@pytest.mark.parametrize("i", range(6))
def test_probe(i):
    with open(os.path.join(os.environ["PROBE_DIR"], f"probe_{i}"), "w") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"])
'''


def test_xdist_groups_stay_on_one_worker(tmp_path):
    (tmp_path / "test_probe.py").write_text(PROBE)
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'base'}", "test_probe.py"],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PROBE_DIR": str(runs)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = {p.read_text() for p in runs.glob("probe_*")}
    assert len(list(runs.glob("probe_*"))) == 6
    assert len(workers) == 1, f"one xdist_group ran on workers {sorted(workers)}"
