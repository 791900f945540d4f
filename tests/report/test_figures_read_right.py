"""Every figure kind, built from small numbers and checked as matplotlib draws it (figure_checks.py): labelled axes,
nothing cut off by a limit, colorbars that hold every cell and the retrained model's value, legends off the data.
The first test shows each check catching the faults the figures used to have."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from figure_checks import check_colorbars, check_figure, check_labels, check_legends, check_limits  # noqa: E402

from browser import CHROMIUM, open_in_chromium  # noqa: E402
from langevin_unlearning.report.figures import per_class_fig  # noqa: E402
from langevin_unlearning.report.sweep_plots import front_figure, heatmaps_figure  # noqa: E402

CLASSES = [str(i) for i in range(10)]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [fig._suptitle.get_text() if fig._suptitle else ""]


def test_the_checks_catch_what_the_old_figures_did():
    """The old per-class chart (legend inside over the bars, no x label), a colorbar narrower than its cells, a bar
    past the axis: each check names its fault."""
    fig, ax = plt.subplots()
    ax.bar(range(10), [0.9] * 10, label="original")
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("test accuracy")
    ax.legend(loc="center")
    assert check_labels(fig) and check_legends(fig)
    ax.set_ylim(0, 0.5)
    assert check_limits(fig)
    fig2, ax2 = plt.subplots()
    image = ax2.imshow([[0.1, 0.02]], vmin=0, vmax=0.05)
    fig2.colorbar(image, ax=ax2)
    assert check_colorbars(fig2)


def per_class_rows():
    return [
        (m, [0.0 if (m != "original" and c == 3) else 0.9 + 0.01 * c for c in range(10)])
        for m in ["original", "retrain (target)", "langevin", "neggrad"]
    ]


def test_the_per_class_chart_reads_right():
    fig = per_class_fig(per_class_rows(), CLASSES, forget_class=3)
    assert check_figure(fig) == []
    ax = fig.axes[0]
    assert ax.get_ylim() == (0, 100) and "%" in ax.get_ylabel()
    assert "forgotten class 3" in ax.get_xlabel()
    assert texts(fig).count("0") == 3  # each zero-height bar says it is zero
    box, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert box.x0 >= frame.x1  # the legend sits beside the bars, not on them


def test_the_per_class_heatmap_for_many_models_reads_right():
    rows = [(f"m{i}", [0.1 * i] * 10) for i in range(8)]
    fig = per_class_fig(rows, CLASSES, forget_class=3)
    assert check_figure(fig) == []
    assert fig.axes[0].images[0].norm.vmax == 100


def sweep_rows(seeds=(0,)):
    return [
        {
            "method": "langevin",
            "seed": s,
            "settings": {"gamma": g, "lamda": lam},
            "error": None,
            "metrics": {
                "forget_acc": 0.01 * g + 0.001 * s,
                "remain_acc": 0.85 + 0.01 * lam,
                "mia": 0.5,
                "forget_gap": 0.01 * g,
                "remain_gap": -0.05 + 0.01 * lam,
                "distance": 0.05 + 0.01 * g,
                "unlearn_seconds": 3.0 + g,
            },
        }
        for g in (0, 1, 5)
        for lam in (0, 1)
        for s in seeds
    ]


RETRAIN = {"forget_acc": 0.1, "remain_acc": 0.92, "mia": 0.55}


def red_lines(bar_ax) -> list[float]:
    return [line.get_ydata()[0] for line in bar_ax.lines if line.get_color() == "red"]


def test_heatmaps_show_the_retrained_value_on_every_colorbar_and_no_spread_with_one_seed():
    fig = heatmaps_figure(sweep_rows(), "gamma", "lamda", retrain=RETRAIN)
    assert check_figure(fig) == []
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 4
    for panel, target in zip(panels, [10.0, 92.0, 55.0, 0.0]):  # the retrained value lies outside every panel's cells
        bar = panel.images[0].colorbar
        assert red_lines(bar.ax) == [pytest.approx(target)]
        assert bar.vmin <= target <= bar.vmax
    assert not any("±" in t for t in texts(fig)) and "one seed" in fig._suptitle.get_text()


def test_heatmaps_show_the_spread_over_several_seeds():
    fig = heatmaps_figure(sweep_rows(seeds=(0, 1)), "gamma", "lamda", retrain=RETRAIN)
    assert check_figure(fig) == []
    assert any("±" in t for t in texts(fig)) and "seeds 0, 1" in fig._suptitle.get_text()


def test_the_front_keeps_the_runs_readable_when_the_original_is_far():
    fig = front_figure(sweep_rows(), original={"forget_gap": 0.97, "remain_gap": 0.01})
    assert check_figure(fig) == []
    ax = fig.axes[0]
    runs = ax.collections[0].get_offsets()
    x0, x1 = ax.get_xlim()
    assert (runs[:, 0].max() - runs[:, 0].min()) / (x1 - x0) > 0.5  # the runs fill the axis, not 5% of it
    assert any(t.startswith("original at (97.0, 1.0)") for t in texts(fig))
    # near the runs, the original is drawn where it is and the axes take it in
    near = front_figure(sweep_rows(), original={"forget_gap": 0.06, "remain_gap": -0.02})
    assert check_figure(near) == [] and not any(t.startswith("original at") for t in texts(near))


def test_the_front_labels_do_not_stack():
    fig = front_figure(sweep_rows(), original=None)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].texts]
    assert boxes and not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_the_tsne_figure_names_the_models_and_has_a_class_legend(original_run, retrained_run, digits, forget_split):
    from langevin_unlearning.report.embedding import embedding_figure, model_title

    torch.manual_seed(0)
    models = [(model_title(run[2], run[0]), run[1]) for run in (original_run, retrained_run)]
    assert [m.split("\n")[0] for m, _ in models] == ["original", "retrained without class:3"]
    fig = embedding_figure(models, digits, forget_split, n=60, seed=0)
    assert check_figure(fig) == []
    assert [ax.get_title() for ax in fig.axes if ax.axison] == [m for m, _ in models]
    legend = fig.legends[0]
    names = [t.get_text() for t in legend.get_texts()]
    assert names[-1].startswith("forget (") and len(names) >= 5
    assert legend.get_window_extent().x0 >= max(ax.get_window_extent().x1 for ax in fig.axes if ax.axison)


def test_a_panel_whose_cells_are_all_equal_gets_a_readable_scale():
    rows = sweep_rows()
    for r in rows:
        r["metrics"]["forget_acc"] = 0.0
    fig = heatmaps_figure(rows, "gamma", "lamda", retrain={**RETRAIN, "forget_acc": 0.0})
    bar = fig.axes[0].images[0].colorbar
    assert check_figure(fig) == [] and bar.vmax - bar.vmin >= 1.0 and bar.vmin <= 0.0 <= bar.vmax


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_every_figure_kind_shows_in_chromium(tmp_path, original_run, retrained_run, digits, forget_split):
    """Each figure kind, written as the commands write it, opened on its own page in headless Chromium: the image
    decodes at its file's size, the page logs no error, and the screenshot of the page shows the drawing."""
    from matplotlib.image import imread

    from langevin_unlearning.report.embedding import embedding_plot, model_title
    from langevin_unlearning.report.plots import per_class_plot
    from langevin_unlearning.report.sweep_plots import front, heatmaps

    rows = [{"model": m, "per_class_acc": acc} for m, acc in per_class_rows()]
    models = [(model_title(run[2], run[0]), run[1]) for run in (original_run, retrained_run)]
    files = [
        per_class_plot(rows, CLASSES, tmp_path / "per_class.png", forget_class=3),
        heatmaps(sweep_rows(), "gamma", "lamda", tmp_path / "heatmaps.png", retrain=RETRAIN),
        front(sweep_rows(), tmp_path / "front.png", original={"forget_gap": 0.97, "remain_gap": 0.01}),
        embedding_plot(models, digits, forget_split, tmp_path / "tsne.png", n=60, seed=0),
    ]
    for png in files:
        page = tmp_path / f"{png.stem}.html"
        page.write_text(f'<!doctype html><link rel="icon" href="data:,"><body style="margin:0"><img src="{png.name}">')
        shot = tmp_path / f"{png.stem}.screenshot.png"
        size, errors = open_in_chromium(
            page,
            tmp_path / "profile",
            "[document.images[0].naturalWidth, document.images[0].naturalHeight]",
            screenshot=shot,
        )
        height, width = imread(png).shape[:2]
        assert errors == [] and size == [width, height], (png.name, size, errors)
        seen = imread(shot)[: min(height, 900), : min(width, 1200), :3]
        assert (seen < 0.9).mean() > 0.01, f"{png.name}: the screenshot is (nearly) blank"
