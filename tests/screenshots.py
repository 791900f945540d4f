"""Regenerate docs/screenshots/: what a new user sees, rendered by headless Chromium.

    python tests/screenshots.py            # needs Debian's chromium; about 3 minutes on a 2-core CPU

On the bundled digits data it runs `demo`, writes the demo's report page and screenshots it whole; runs the
ablation study's dry run (``studies.fmnist_ablation --tiny``) for a sweep heatmap and a front; embeds the demo's
three models with t-SNE. Each figure is opened in the browser and captured as it renders there. Nothing here
is measured: the pictures show layout, and their numbers come from the runs this script makes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from browser import CHROMIUM, open_in_chromium  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "langevin_unlearning.cli"]


def _run(cmd: list[str], cwd: Path) -> None:
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def _figure_page(png: Path, page: Path) -> Path:
    """An HTML page showing ``png`` at its natural size on white (what a browser tab shows)."""
    page.write_text(f'<!doctype html><link rel="icon" href="data:,"><body style="margin:0"><img src="{png.name}">')
    return page


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = p.parse_args()
    if CHROMIUM is None:
        print("chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        _run([*CLI, "demo", "--out", "runs/demo", "--results-dir", "results", "--no-progress"], work)
        _run([*CLI, "report", "demo", "--results-dir", "results"], work)
        _run(
            [
                sys.executable,
                "-m",
                "studies.fmnist_ablation",
                "--tiny",
                "--out",
                str(work / "ablation"),
                "--runs-dir",
                str(work / "abl-runs"),
            ],
            ROOT,
        )
        models = ",".join(str(work / "runs" / "demo" / m) for m in ("original", "retrained"))
        _run(
            [*CLI, "embed", "--models", models, "--forget", "class:3", "--out", "results/tsne.png", "--n", "300"], work
        )
        shots = {
            "demo-report.png": work / "results" / "demo.html",
            "sweep-heatmaps.png": _figure_page(
                work / "ablation" / "heatmaps_gamma_vs_lamda_class0.png", work / "ablation" / "heatmaps.html"
            ),
            "sweep-front.png": _figure_page(work / "ablation" / "front_tuning.png", work / "ablation" / "front.html"),
            "tsne.png": _figure_page(work / "results" / "tsne.png", work / "results" / "tsne.html"),
        }
        for name, page in shots.items():
            _, errors = open_in_chromium(page, work / "profile", screenshot=args.out / name)
            if errors:
                print(f"{name}: {errors}", file=sys.stderr)
                return 1
            print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
