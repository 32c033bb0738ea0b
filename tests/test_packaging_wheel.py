"""The package as a user installs it: a wheel in a fresh virtual environment, run from a
directory outside the checkout, must find its default model, the leaderboard's benchmark
registry and the dataset cards (package data, `peaknet_bench.util.shipped`), not `../`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _source_copy(dest: Path) -> Path:
    """The files a wheel is built from (the checkout's shipped symlinks keep pointing into the copy)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "submissions", "eval", "*.png", "*.jsonl", "*.cxi",
                                  "ref-teacher.safetensors")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, dest / name)
    for folder in ("peaknet_bench", "datasets", "leaderboard"):
        shutil.copytree(REPO / folder, dest / folder, symlinks=True, ignore=skip)
    shutil.copytree(REPO / "baselines" / "models", dest / "baselines" / "models", ignore=skip)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, peaknet-bench script, environment) of a fresh venv holding only the wheel; the
    dependencies (torch, numpy, ...) come from this interpreter's site-packages through a path
    entry, whose .pth files (the editable install of the checkout) are not processed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = _source_copy(tmp_path_factory.mktemp("src"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
                    str(src)], check=True, capture_output=True, cwd=tmp)
    wheel = next((tmp / "dist").glob("peaknet_bench-*.whl"))
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, cwd=tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEAKNET_BENCH_") and k != "PYTHONPATH"}
    return python, env_dir / "bin" / "peaknet-bench", env, tmp


def _run(cmd, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_the_package_comes_from_the_wheel_and_finds_its_shipped_files(installed):
    python, _, env, tmp = installed
    probe = ("import json, peaknet_bench; from peaknet_bench.util.shipped import default_model, shipped_path; "
             "from peaknet_bench.data.download import datasets_root; from peaknet_bench.leaderboard.schema import BOARD_DIR; "
             "print(json.dumps({'package': peaknet_bench.__file__, 'model': str(default_model()), "
             "'datasets': str(datasets_root()), 'board': str(BOARD_DIR)}))")
    r = _run([python, "-c", probe], env, tmp)
    assert r.returncode == 0, r.stderr
    where = json.loads(r.stdout)
    site = str(tmp / "venv")
    assert all(v.startswith(site) for v in where.values()), where  # nothing from the checkout
    assert Path(where["model"]).is_file()
    assert (Path(where["board"]) / "benchmarks.yaml").is_file()
    assert (Path(where["board"]) / "submission.schema.json").is_file()
    assert (Path(where["datasets"]) / "peaknet-sim" / "1.2" / "recipe.yaml").is_file()
    assert (Path(where["datasets"]) / "peaknet-sim" / "1.2" / "README.md").is_file()


def test_quickstart_help_and_model_list_run_from_the_wheel(installed):
    _, script, env, tmp = installed
    r = _run([script, "quickstart", "--help"], env, tmp)
    assert r.returncode == 0, r.stderr
    assert "ref-student.safetensors" in "".join(r.stdout.split())  # the default model, wherever help wraps it
    r = _run([script, "model", "list", "--json"], env, tmp)
    assert r.returncode == 0, r.stderr
    names = [m["name"] for m in json.loads(r.stdout)["models"]]
    assert "ref-student" in names and "cpu-student" in names


def test_the_wheel_reads_the_leaderboard_and_a_dataset_card(installed):
    _, script, env, tmp = installed
    r = _run([script, "dataset", "info", "peaknet-sim:1.2", "--json"], env, tmp)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["version"] == "1.2"
    board = tmp / "board"  # a board of one's own starts from the shipped registry
    r = _run([script, "leaderboard", "render", "--board", board, "--json"], env, tmp)
    assert r.returncode == 0, r.stderr
