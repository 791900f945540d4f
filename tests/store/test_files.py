"""store/files.py reads JSON without trusting it; the atomic writers leave nothing behind on failure."""

from __future__ import annotations

import errno

import pytest

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.store.atomic import atomic_dir, atomic_write
from langevin_unlearning.store.files import read_json_object


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe", "is not UTF-8 text"),
        (b"{", "is not valid JSON"),
        (b"[1]", "holds a JSON list, not an object"),
        (b'{"a": 1}', "lacks b"),
        (b'{"a": true, "b": "x"}', "has a boolean for a, not a integer"),
        (b'{"a": 1, "b": null}', "lacks b"),
    ],
)
def test_read_json_object_refuses_in_one_line_naming_file_and_fix(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(UserError) as e:
        read_json_object(path, "a test file", {"a": int, "b": str}, fix="rewrite it")
    text = str(e.value)
    assert message in text and str(path) in text and text.endswith("; rewrite it") and "\n" not in text


def test_read_json_object_accepts_ints_for_numbers(tmp_path):
    (tmp_path / "x.json").write_text('{"a": 1}')
    assert read_json_object(tmp_path / "x.json", "t", {"a": float}, fix="f") == {"a": 1}


def _fail(_tmp):
    raise OSError(errno.ENOSPC, "No space left on device", str(_tmp))


def test_failed_writes_leave_no_parent_folder_and_name_the_target(tmp_path):
    target = tmp_path / "a" / "b" / "file.json"
    with pytest.raises(OSError) as e:
        atomic_write(target, _fail)
    assert e.value.filename == str(target) and list(tmp_path.iterdir()) == []
    run = tmp_path / "runs" / "x"
    with pytest.raises(OSError) as e, atomic_dir(run) as tmp:
        _fail(tmp / "model.safetensors")
    assert e.value.filename == str(run / "model.safetensors") and list(tmp_path.iterdir()) == []
