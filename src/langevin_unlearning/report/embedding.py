"""t-SNE pictures of feature spaces: one panel per model, the forget set highlighted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from ..data import ForgetSplit, ImageDataset
from ..evaluation.embed import embed_sample, tsne
from ..evaluation.probe import features
from .figures import pyplot, save_png


def model_title(meta, folder: str | Path) -> str:
    """What the model is (unlearned by which method, retrained without what, or the original), then its folder."""
    if meta.unlearning:
        what = f"{meta.unlearning.get('method', 'unlearned')} (unlearned)"
    elif meta.exclude_forget:
        what = f"retrained without {meta.forget}"
    else:
        what = "original"
    name = Path(folder).name or str(folder)
    return what if name in what else f"{what}\n{name}"


def embedding_plot(
    models: Sequence[tuple[str, nn.Module]],
    data: ImageDataset,
    split: ForgetSplit,
    path: str | Path,
    *,
    n: int = 500,
    seed: int = 0,
    device="cpu",
) -> Path:
    """``embedding_figure`` as a PNG file."""
    return save_png(embedding_figure(models, data, split, n=n, seed=seed, device=device), path)


def embedding_figure(
    models: Sequence[tuple[str, nn.Module]],
    data: ImageDataset,
    split: ForgetSplit,
    *,
    n: int = 500,
    seed: int = 0,
    device="cpu",
):
    """A t-SNE panel per (title, model) of the same image sample, forget images highlighted, one class legend."""
    plt = pyplot()
    part_name, index, is_forget = embed_sample(data, split, n, seed)
    part = getattr(data, part_name)
    labels = part.labels[index].numpy()
    mask = is_forget.numpy()
    cols = min(len(models), 3)
    rows = -(-len(models) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10" if data.num_classes <= 10 else "tab20")
    for ax, (title, model) in zip(axes.flat, models):
        xy = tsne(features(model, part.images, index, device), seed)
        ax.scatter(
            xy[~mask, 0], xy[~mask, 1], c=[cmap(int(c) % cmap.N) for c in labels[~mask]], s=9, alpha=0.6, linewidths=0
        )
        ax.scatter(
            xy[mask, 0],
            xy[mask, 1],
            c="red",
            s=22,
            edgecolors="black",
            linewidths=0.6,
            label=f"forget ({int(mask.sum())})",
        )
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(models) :]:
        ax.axis("off")
    # one legend for every panel, outside them: the class colours, then the forget set
    from matplotlib.lines import Line2D

    present = sorted({int(c) for c in labels[~mask]})
    handles = [
        Line2D([], [], marker="o", linestyle="", color=cmap(c % cmap.N), label=str(data.classes[c])[:16])
        for c in present
    ] + [
        Line2D(
            [], [], marker="o", linestyle="", color="red", markeredgecolor="black", label=f"forget ({int(mask.sum())})"
        )
    ]
    fig.suptitle(f"t-SNE of features, {len(index)} {part_name} images of {data.name}; {split.spec} in red", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.86, 0.5), fontsize=8, frameon=False, title="class")
    return fig
