"""Assemble the report page from ``template.html`` and the sections the results folder has."""

from __future__ import annotations

import datetime as _dt
from importlib import resources
from pathlib import Path
from string import Template

from ..core.version import __version__
from ..store.atomic import write_text
from . import sections
from .collect import Results, collect
from .markup import esc

# (anchor, table-of-contents entry, section builder), in page order
PARTS = [
    ("compare", "Comparison", sections.compare_section),
    ("per-class", "Per-class accuracy", sections.per_class_section),
    ("sweep", "Sweep", sections.sweep_section),
    ("audit", "Per-example audit", sections.audit_section),
    ("provenance", "Provenance", sections.provenance_section),
]


def template() -> Template:
    return Template(resources.files(__package__).joinpath("template.html").read_text(encoding="utf-8"))


def render_report(name: str, results_dir: str | Path = "results") -> str:
    """The whole page for results/NAME* as one HTML string (raises UserError for an unknown NAME)."""
    r = collect(name, results_dir)
    return render(r)


def render(r: Results) -> str:
    built, toc, present = [], [], set()
    for anchor, entry, build in PARTS:
        html = build(r)
        if html:
            built.append(html)
            toc.append((anchor, entry))
            present.add(anchor)
    for anchor, entry, html in (
        ("figures", "Figures", sections.figures_section(r)),
        ("absent", "Not in this folder", sections.absent_section(r, present)),
    ):
        if html:
            built.append(html)
            toc.append((anchor, entry))
    lead = (
        "Machine unlearning removes what a trained model learned from some of its training images (the <em>forget set</em>). "
        "The reference is a model retrained from scratch without them, the <em>target</em>: every number below is judged by how close "
        "it is to the target's, not by how high or low it is."
    )
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = f"Results <code>{esc(r.name)}</code> from <code>{esc(r.results_dir.resolve())}</code>; report written {esc(when)}."
    return template().substitute(
        title=esc(f"Unlearning report: {r.name}"),
        version=esc(__version__),
        lead=lead,
        meta=meta,
        toc="".join(f'<a href="#{esc(a)}">{esc(e)}</a>' for a, e in toc),
        sections="\n".join(built),
    )


def write_report(name: str, results_dir: str | Path = "results", out: str | Path | None = None) -> Path:
    """Write the page (default results/NAME.html), atomically; return its path."""
    results_dir = Path(results_dir)
    page = render_report(name, results_dir)
    return write_text(Path(out) if out else results_dir / f"{name}.html", page)
