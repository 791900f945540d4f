"""`langevin-unlearn inspect RUN`: verify a checkpoint (hash, architecture) and show what it records."""

from __future__ import annotations

HELP = "verify a saved run (hash, architecture) and print its metadata"


def add_parser(p) -> None:
    p.add_argument("run", help="run folder, or its model.safetensors / model.json")
    p.add_argument("--model", default=None, help="fail unless the checkpoint holds this architecture")


def run(args) -> int:
    from ..report.tables import text_table
    from ..store.checkpoint import load_checkpoint

    model, meta = load_checkpoint(args.run, expect_model=args.model)
    params = sum(p.numel() for p in model.parameters())
    spec = meta.model
    rows = [
        {
            "field": "model",
            "value": f"{spec['name']} (width {spec.get('width', 1.0)}, {params:,} parameters)"
            + "".join(f" {k}={v}" for k, v in spec.get("args", {}).items()),
        },
        {"field": "dataset", "value": str(meta.dataset)},
        {"field": "kind", "value": str(meta.kind)},
        {"field": "forget", "value": str(meta.forget)},
        {"field": "seed", "value": str(meta.seed)},
        *(
            {"field": f"{role} parent", "value": f"{p['run']} (sha256 {str(p.get('weights_sha256'))[:16]}...)"}
            for role, p in (meta.composition or {}).items()
            if role in ("features", "head")
        ),
        *({"field": k, "value": f"{v:.4f}"} for k, v in meta.accuracy.items()),
        {"field": "weights sha256", "value": meta.weights_sha256[:16] + "... (verified)"},
    ]
    print(text_table(rows))
    return 0
