"""What people read: text and markdown tables, every plot, and one self-contained HTML page per results name
(`langevin-unlearn report NAME`).

``collect`` finds what a results folder holds (the compare table, per-class accuracy, sweep, audit,
provenance, images), ``figures`` draws the plots the folder does not already have, and ``html`` fills
``template.html``: inline CSS, images as base64 data URIs, no scripts, nothing fetched from a network.
"""

from .html import render_report, write_report

__all__ = ["render_report", "write_report"]
