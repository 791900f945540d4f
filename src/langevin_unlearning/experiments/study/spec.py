"""A study file: the declared grid of one dataset x forget sets x methods x seeds, checked before anything runs.

A study file is JSON (an example: ``files/fmnist.json``)::

    {"name": "fmnist", "dataset": "fashionmnist",
     "recipe": {"model": "allcnn", "width": 0.25, "epochs": 3, "lr": 0.05, "batch_size": 128},
     "forget": [{"kind": "class-wise", "specs": ["class:0", "class:1"], "seeds": [0]},
                {"kind": "random 10%", "specs": ["random:0.1"], "seeds": [0, 1, 2]}],
     "methods": {"langevin": {"settings": {"epochs": 1}, "source": "why these settings"},
                 "langevin lr 3e-4": {"method": "langevin", "settings": {"epochs": 1, "lr": 3e-4}, "source": "..."}, ...},
     "analyses": {"names": ["relearn", "probe"], "methods": ["langevin", "retrain"]},
     "tuned_on": ["class:0", "class:2"]}

Every method is built from its settings when the file is read, so an unknown method, setting or value is one
line naming the fix. A method's key is its row's name; ``"method"`` names the registered method when the key is
not one (variants of one method side by side, as a tuning study compares them). ``retrain``'s row is the retrained reference itself (its Avg. Gap is 0 by construction,
its RTE the reference's training time). ``tuned_on`` names the forget sets the defaults were chosen on, so a
report can mark them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ...core.errors import UserError
from ...data.forget import canonical_spec
from ...engine.train import TrainConfig
from ...methods import METHODS, create_method
from ..recipes import Recipe

SHIPPED = Path(__file__).parent / "files"
KEYS = {"name", "dataset", "recipe", "forget", "methods", "analyses", "tuned_on", "description", "machine_note"}
RECIPE_KEYS = {"model", "width", "image_size", "split_seed", "seed", *TrainConfig.__dataclass_fields__}
REFERENCE = "retrain"  # the method whose row is the retrained reference


@dataclass(frozen=True)
class ForgetKind:
    kind: str  # a table's title: "class-wise", "random 10%", ...
    specs: tuple[str, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class MethodEntry:
    name: str  # the row's name: the registered method's, or a variant's label
    settings: dict  # every setting, defaults filled in (what the store records)
    given: dict  # the settings the file sets
    source: str
    method: str = ""  # the registered method (the name, unless the entry is a variant)

    def __post_init__(self):
        if not self.method:
            object.__setattr__(self, "method", self.name)


@dataclass(frozen=True)
class Cell:
    """One stored row: a method on one forget set at one seed."""

    kind: str
    spec: str
    seed: int
    method: str

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.spec}|{self.seed}|{self.method}"


@dataclass(frozen=True)
class Study:
    name: str
    dataset: str
    recipe: Recipe
    train_seed: int  # the original model's seed (a forget set's retrained model uses the cell's seed)
    forget: tuple[ForgetKind, ...]
    methods: tuple[MethodEntry, ...]
    analyses: tuple[str, ...] = ()
    analysis_methods: tuple[str, ...] = ()
    tuned_on: tuple[str, ...] = ()
    description: str = ""
    raw: dict = field(default_factory=dict, compare=False)

    def cells(self) -> list[Cell]:
        """Every cell, grouped by forget set with the reference first. Forget sets take turns across the kinds,
        held-out sets before the ones defaults were tuned on, so a study stopped early already has every kind's
        table and its held-out sets."""
        order = sorted(self.methods, key=lambda m: m.name != REFERENCE)
        queues = [
            sorted(((spec, seed) for seed in k.seeds for spec in k.specs), key=lambda u: u[0] in self.tuned_on)
            for k in self.forget
        ]
        units = [
            (k.kind, *queue[i])
            for i in range(max(map(len, queues)))
            for k, queue in zip(self.forget, queues)
            if i < len(queue)
        ]
        return [Cell(kind, spec, seed, m.name) for kind, spec, seed in units for m in order]

    def method(self, name: str) -> MethodEntry:
        return next(m for m in self.methods if m.name == name)


def find_study(name_or_path: str) -> Path:
    """A study file: a path, or the name of a shipped one (``fmnist`` -> files/fmnist.json)."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise UserError(f"no study file {path}; give a JSON study file or a shipped study: {', '.join(shipped())}")
        return path
    shipped_path = SHIPPED / f"{name_or_path}.json"
    if not shipped_path.is_file():
        raise UserError(
            f"no shipped study {name_or_path!r}; use one of {', '.join(shipped())} or a path to a .json file"
        )
    return shipped_path


def shipped() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.json"))


def load_study(name_or_path: str) -> Study:
    path = find_study(name_or_path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); fix the file") from None
    return parse_study(raw, str(path))


def _need(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise UserError(f"{where}: {message}")


def parse_study(raw: dict, where: str = "study") -> Study:
    """Check a study's JSON object and build it (every method constructed, so its settings are validated)."""
    _need(isinstance(raw, dict), where, "the file must hold one JSON object")
    unknown = sorted(set(raw) - KEYS)
    _need(not unknown, where, f"unknown key {', '.join(unknown)}; the keys are {', '.join(sorted(KEYS))}")
    for key in ("name", "dataset", "forget", "methods"):
        _need(key in raw, where, f"missing {key!r}")
    name, dataset = raw["name"], raw["dataset"]
    _need(isinstance(name, str) and name.isidentifier(), where, f"name {name!r} must be a plain name such as fmnist")
    _need(isinstance(dataset, str), where, "dataset must be a registered dataset name, e.g. fashionmnist")
    recipe_raw = raw.get("recipe", {})
    _need(isinstance(recipe_raw, dict), where, "recipe must be an object")
    bad = sorted(set(recipe_raw) - RECIPE_KEYS)
    _need(not bad, where, f"recipe has no setting {', '.join(bad)}; its settings are {', '.join(sorted(RECIPE_KEYS))}")
    train = {k: v for k, v in recipe_raw.items() if k in TrainConfig.__dataclass_fields__}
    try:
        cfg = TrainConfig(**train)
    except (TypeError, ValueError) as e:
        raise UserError(f"{where}: recipe: {e}") from None
    recipe = Recipe(
        dataset,
        cfg=cfg,
        model=recipe_raw.get("model", "allcnn"),
        width=float(recipe_raw.get("width", 1.0)),
        image_size=recipe_raw.get("image_size"),
        split_seed=int(recipe_raw.get("split_seed", 0)),
    )
    kinds = []
    _need(isinstance(raw["forget"], list) and raw["forget"], where, "forget must be a non-empty list")
    for entry in raw["forget"]:
        _need(
            isinstance(entry, dict) and {"kind", "specs"} <= set(entry), where, "each forget entry needs kind and specs"
        )
        seeds = entry.get("seeds", [0])
        _need(
            isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds),
            where,
            f"forget {entry['kind']!r}: seeds must be a list of non-negative integers",
        )
        specs = tuple(canonical_spec(s) for s in entry["specs"])
        _need(specs and len(set(specs)) == len(specs), where, f"forget {entry['kind']!r}: specs must be distinct")
        kinds.append(ForgetKind(str(entry["kind"]), specs, tuple(seeds)))
    _need(len({k.kind for k in kinds}) == len(kinds), where, "forget kinds must have distinct names")
    methods = []
    _need(isinstance(raw["methods"], dict) and raw["methods"], where, "methods must be a non-empty object")
    for m, entry in raw["methods"].items():
        _need(isinstance(entry, dict), where, f"method {m!r} must be an object with settings and a source")
        registered = entry.get("method", m)
        _need(
            registered in METHODS.names(),
            where,
            f"unknown method {registered!r}; the methods are {', '.join(METHODS.names())}"
            + ("" if "method" in entry else ' (a variant\'s entry names its method: "method": "langevin")'),
        )
        _need(
            m != REFERENCE or registered == REFERENCE, where, f"the row {REFERENCE!r} must be the method {REFERENCE!r}"
        )
        _need(
            set(entry) <= {"method", "settings", "source"},
            where,
            f"method {m!r}: unknown key {', '.join(sorted(set(entry) - {'method', 'settings', 'source'}))}; "
            "its keys are method, settings, source",
        )
        _need("source" in entry, where, f"method {m!r} needs a source: where its settings came from")
        given = entry.get("settings", {})
        _need(isinstance(given, dict), where, f"method {m!r}: settings must be an object")
        try:
            full = {k: v for k, v in create_method(registered, **given).describe().items() if k != "method"}
        except UserError as e:
            raise UserError(f"{where}: method {m!r}: {e}") from None
        methods.append(MethodEntry(m, full, dict(given), str(entry["source"]), registered))
    _need(any(m.name == REFERENCE for m in methods), where, f"methods must include {REFERENCE!r} (the reference row)")
    analyses = raw.get("analyses", {})
    names, chosen = tuple(analyses.get("names", ())), tuple(analyses.get("methods", ()))
    from ...evaluation.analyses import ANALYSES

    for n in names:
        _need(n in ANALYSES.names(), where, f"unknown analysis {n!r}; the analyses are {', '.join(ANALYSES.names())}")
    for m in chosen:
        _need(m in raw["methods"], where, f"analyses name method {m!r}, which the study does not run")
    return Study(
        name,
        dataset,
        recipe,
        int(recipe_raw.get("seed", 0)),
        tuple(kinds),
        tuple(methods),
        names,
        chosen,
        tuple(canonical_spec(s) for s in raw.get("tuned_on", ())),
        str(raw.get("description", "")),
        raw,
    )
