"""timm models behind the registry: ``timm:<name>``, e.g. ``timm:resnet18`` or ``timm:vit_tiny_patch16_224``.

The timm network becomes ``body`` with its classifier removed (``reset_classifier(0)``); that classifier
becomes ``classifier``. So ``features(x)`` is timm's ``forward_head(forward_features(x), pre_logits=True)``
and ``classifier(features(x))`` is exactly timm's own forward. Input normalization lives in the model like
for every other model. Extra timm arguments (``patch_size=2``, ``embed_dim=32``, ``depth=2``...) go in
``args``; ``img_size`` is added wherever the architecture takes one. Weights are always random
(``pretrained=False``; never a hub download) unless ``load_local_weights`` reads a local safetensors file.

    create_model("timm:vit_tiny_patch16_224", num_classes=10, in_channels=1, mean=(0.5,), std=(0.25,),
                 image_size=8, args={"patch_size": 2, "embed_dim": 32, "depth": 2, "num_heads": 2})
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from ..core.errors import UserError
from .base import Classifier, Normalize
from .registry import register_model

INSTALL = "pip install 'langevin-unlearning[timm]'"
STAGES = ("blocks", "stages", "layers")  # containers whose children are the blocks cf-k / eu-k count


def import_timm():
    try:
        import timm
    except ImportError:
        raise UserError(f"timm: models need the timm package, which is not installed; {INSTALL}") from None
    return timm


class TimmClassifier(Classifier):
    def __init__(self, variant: str, net: nn.Module, mean, std, model_args: dict):
        super().__init__()
        self.variant = variant
        self.model_args = model_args
        self.normalize = Normalize(mean, std)
        head = net.get_classifier()
        if not any(True for _ in head.parameters()):
            raise UserError(
                f"timm:{variant} has no classifier head to split off; it cannot be used as a classifier here"
            )
        net.reset_classifier(0)  # the head leaves the trunk: body + classifier hold each weight once
        self.body = net
        self.classifier = head
        self.head_prefix = (net.pretrained_cfg or {}).get("classifier", "head")  # the head's key in timm's state dict

    def features(self, x: Tensor) -> Tensor:
        return self.body.forward_head(self.body.forward_features(self.normalize(x)), pre_logits=True)

    def blocks(self) -> list[nn.Module]:
        """The timm network's top-level children with parameters, in registration order (input to output
        for the common families), with ``blocks``/``stages``/``layers`` containers opened up; the head last.
        Loose parameters (a ViT's ``cls_token`` and ``pos_embed``) belong to no block."""
        out: list[nn.Module] = []
        for name, child in self.body.named_children():
            parts = (
                list(child.children())
                if name in STAGES and isinstance(child, (nn.Sequential, nn.ModuleList))
                else [child]
            )
            out += [m for m in parts if any(True for _ in m.parameters())]
        return [*out, self.classifier]


def build_timm(
    variant: str, *, num_classes: int, in_channels: int, args: dict, image_size: int | None
) -> tuple[nn.Module, dict]:
    """The timm network and the keyword arguments it was built with (``img_size`` added where it is taken)."""
    timm = import_timm()
    if not variant:
        raise UserError("timm: needs a model name, e.g. timm:resnet18 or timm:vit_tiny_patch16_224")
    if not timm.is_model(variant):
        raise UserError(
            f"unknown timm model {variant!r}; list them with: python -c \"import timm; print(timm.list_models('vit*'))\""
        )
    reserved = sorted(
        {"pretrained", "num_classes", "in_chans", "pretrained_cfg_overlay", "checkpoint_path"} & set(args)
    )
    if reserved:
        raise UserError(
            f"timm:{variant}: {', '.join(reserved)} cannot be set as model arguments (set by the dataset; weights via --weights FILE)"
        )
    tries = [{"img_size": image_size, **args}, dict(args)] if image_size and "img_size" not in args else [dict(args)]
    for i, kwargs in enumerate(tries):
        try:
            net = timm.create_model(variant, pretrained=False, num_classes=num_classes, in_chans=in_channels, **kwargs)
            return net, kwargs
        except TypeError as e:
            if i + 1 < len(tries) and "img_size" in str(e):
                continue  # this architecture takes any input size without being told
            raise UserError(f"timm:{variant} does not take these arguments ({e}); check --model-arg") from None
        except (AssertionError, ValueError, RuntimeError) as e:
            raise UserError(f"cannot build timm:{variant} with {kwargs}: {e}") from None
    raise AssertionError("unreachable")


def check_input_size(model: TimmClassifier, in_channels: int, image_size: int) -> None:
    """One forward pass on a blank image, so an impossible size fails now with one line, not mid-training."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, image_size, image_size))
    except Exception as e:
        hint = "; pass --model-arg patch_size=P with P dividing the image size" if "patch" in model.variant else ""
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(
            f"timm:{model.variant} cannot take {image_size}x{image_size} images ({message}){hint}"
        ) from None
    finally:
        model.train(was_training)


@register_model("timm")
def timm_model(
    num_classes: int,
    in_channels: int,
    mean,
    std,
    width: float = 1.0,
    *,
    variant: str,
    args: dict,
    image_size: int | None = None,
) -> TimmClassifier:
    if width != 1.0:
        raise UserError(
            f"timm:{variant} has no width multiplier; set sizes with model arguments instead (e.g. --model-arg embed_dim=64)"
        )
    net, kwargs = build_timm(
        variant, num_classes=num_classes, in_channels=in_channels, args=args, image_size=image_size
    )
    model = TimmClassifier(variant, net, mean, std, kwargs)
    if image_size:
        check_input_size(model, in_channels, image_size)
    return model


def load_local_weights(model: nn.Module, path: str | Path) -> dict:
    """Initialise a timm model from a local safetensors file holding timm's own state dict (as published
    with timm's weights). The trunk must fit (timm's ``checkpoint_filter_fn`` adapts ViT position embeddings
    and patch sizes first); the head is taken where its shape fits the classes, otherwise left random.
    Returns what was loaded, for the run's sidecar."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..core.digest import file_sha256 as sha256

    if not isinstance(model, TimmClassifier):
        raise UserError("--weights initialises timm: models only; the toolkit's own models start from random weights")
    file = Path(path)
    if not file.is_file():
        raise UserError(f"weights file {file} not found; pass a local .safetensors file (nothing is downloaded)")
    try:
        state = load_file(str(file))
    except SafetensorError as e:
        raise UserError(f"{file} is not a readable safetensors file ({e})") from None
    filter_fn = getattr(sys.modules.get(type(model.body).__module__), "checkpoint_filter_fn", None)
    if filter_fn is not None:
        try:
            state = filter_fn(state, model.body)
        except Exception:  # the filter is a convenience; the strict load below reports what does not fit
            pass
    prefix = model.head_prefix + "."
    head = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    trunk = {k: v for k, v in state.items() if not k.startswith(prefix)}
    own = model.body.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in trunk.items()
        if k in own and v.shape != own[k].shape
    ]
    missing, unexpected = sorted(set(own) - set(trunk)), sorted(set(trunk) - set(own))
    if wrong or missing or unexpected:
        detail = (
            f"shape mismatch {wrong[0]}"
            if wrong
            else f"missing {missing[0]}"
            if missing
            else f"unexpected {unexpected[0]}"
        )
        raise UserError(
            f"{file} does not fit timm:{model.variant} as built ({detail}; {len(wrong)} mismatched, {len(missing)} missing, {len(unexpected)} unexpected keys); build the same architecture the weights were saved from"
        )
    model.body.load_state_dict(trunk, strict=True)
    own_head = model.classifier.state_dict()
    head_fits = set(head) == set(own_head) and all(head[k].shape == own_head[k].shape for k in head)
    if head_fits:
        model.classifier.load_state_dict(head)
    return {"file": str(file), "sha256": sha256(file), "head_loaded": head_fits}
