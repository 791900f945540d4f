"""The public face: what `import langevin_unlearning` offers, and the README's Python snippet, run verbatim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import langevin_unlearning as lu

README = Path(__file__).resolve().parents[2] / "README.md"
PUBLIC = {
    "train",
    "unlearn",
    "evaluate",
    "compare",
    "load_run",
    "list_methods",
    "create_method",
    "register_method",
    "UnlearningMethod",
    "ImageDataset",
    "ForgetSplit",
    "load_dataset",
    "UserError",
}


def test_the_face_exports_the_public_api_and_nothing_is_missing():
    assert PUBLIC <= set(lu.__all__)
    for name in lu.__all__:
        assert getattr(lu, name) is not None
    with pytest.raises(AttributeError):
        lu.not_a_name  # noqa: B018


def test_importing_the_package_does_not_import_torch():
    code = "import sys, langevin_unlearning; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_a_dataset_and_a_split_from_tensors():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8, generator=g)
    y = torch.arange(20) % 2
    data = lu.ImageDataset.from_tensors("toy", x[:16], y[:16], x[16:], y[16:])
    assert data.num_classes == 2 and data.image_shape == (1, 8, 8) and len(data.mean) == 1
    split = lu.ForgetSplit.from_indices(data, [3, 1, 3], test_forget=[0])
    assert split.train_forget.tolist() == [1, 3]
    assert len(split.train_remain) == 14 and split.test_remain.tolist() == [1, 2, 3]
    with pytest.raises(lu.UserError, match="out of range"):
        lu.ForgetSplit.from_indices(data, [16])
    with pytest.raises(lu.UserError, match="uint8"):
        lu.ImageDataset.from_tensors("toy", x.float(), y, x, y)


def readme_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README has no ```python block"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_python_snippet_runs_as_written(tmp_path, monkeypatch):
    code = readme_snippet()
    assert "lu.unlearn" in code and "lu.train" in code
    monkeypatch.chdir(tmp_path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    found = re.match(r"forget (\S+)\s+remain (\S+)\s+Avg\. Gap (\S+)", lines[0])
    forget, remain, gap = map(float, found.groups())
    assert forget <= 0.1 and remain >= 0.9 and 0 <= gap < 5  # class 3 forgotten, the rest kept (gap in points)
    assert 0 <= float(lines[1]) <= 1
    assert "langevin" in lines[2] and "boundary-shrink" in lines[2]
    assert (tmp_path / "runs" / "py-original" / "model.safetensors").is_file()
