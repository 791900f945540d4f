import pytest
import torch

from langevin_unlearning.cli import main
from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import parse_forget
from langevin_unlearning.data.forget import canonical_spec


def disjoint_and_complete(split, n_train, n_test):
    train = torch.cat([split.train_forget, split.train_remain]).sort().values
    test = torch.cat([split.test_forget, split.test_remain]).sort().values
    assert torch.equal(train, torch.arange(n_train))
    assert torch.equal(test, torch.arange(n_test))


def test_class_spec_takes_the_whole_class(digits):
    s = parse_forget("class:3", digits)
    assert (digits.train.labels[s.train_forget] == 3).all()
    assert not (digits.train.labels[s.train_remain] == 3).any()
    assert (digits.test.labels[s.test_forget] == 3).all() and len(s.test_forget) > 0
    assert s.forget_class == 3
    disjoint_and_complete(s, len(digits.train), len(digits.test))


def test_fraction_is_seeded_and_keeps_the_rest_of_the_class(digits):
    a = parse_forget("class:3:0.5", digits, seed=1)
    b = parse_forget("class:3:0.5", digits, seed=1)
    c = parse_forget("class:3:0.5", digits, seed=2)
    n3 = int((digits.train.labels == 3).sum())
    assert len(a.train_forget) == round(n3 * 0.5)
    assert torch.equal(a.train_forget, b.train_forget)
    assert not torch.equal(a.train_forget, c.train_forget)
    assert (digits.train.labels[a.train_remain] == 3).sum() == n3 - len(a.train_forget)
    disjoint_and_complete(a, len(digits.train), len(digits.test))


def test_indices_file(digits, tmp_path):
    f = tmp_path / "forget.txt"
    f.write_text("# rows to delete\n5\n3\n\n100\n")
    s = parse_forget(f"indices:{f}", digits)
    assert s.train_forget.tolist() == [3, 5, 100]
    assert len(s.test_forget) == 0
    disjoint_and_complete(s, len(digits.train), len(digits.test))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("class:12", "out of range"),
        ("class:-1", "out of range"),
        ("class:x", "bad forget spec"),
        ("class:3:0", "must be in (0, 1]"),
        ("class:3:1.5", "must be in (0, 1]"),
        ("class:3:abc", "bad fraction"),
        ("class:3:0.0001", "selects no training images"),
        ("rows:3", "unknown forget spec"),
        ("indices:/no/such/file", "no such file"),
    ],
)
def test_bad_specs_are_one_line_errors(digits, spec, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_forget(spec, digits)
    assert "\n" not in str(e.value)


def test_empty_and_out_of_range_indices(digits, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(UserError, match="must not be empty"):
        parse_forget(f"indices:{empty}", digits)
    far = tmp_path / "far.txt"
    far.write_text(f"{len(digits.train)}\n")
    with pytest.raises(UserError, match="out of range"):
        parse_forget(f"indices:{far}", digits)
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n-2\n")
    with pytest.raises(UserError, match="bad.txt:2"):
        parse_forget(f"indices:{bad}", digits)


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("class:03", "class:3"),
        (" class:3 ", "class:3"),
        ("class: 3 : 0.50", "class:3:0.5"),
        ("class:3:.5", "class:3:0.5"),
        ("class:3:5e-1", "class:3:0.5"),
        ("class:3:1", "class:3"),
        ("class:3:1.000", "class:3"),
    ],
)
def test_specs_are_recorded_in_one_canonical_spelling(digits, spelling, canonical):
    s = parse_forget(spelling, digits, seed=1)
    assert s.spec == canonical == canonical_spec(spelling)
    same = parse_forget(canonical, digits, seed=1)
    assert torch.equal(s.train_forget, same.train_forget) and torch.equal(s.test_forget, same.test_forget)


def test_canonical_spelling_of_indices_and_where_drops_outer_whitespace(digits, tmp_path):
    f = tmp_path / "forget.txt"
    f.write_text("1\n2\n")
    assert parse_forget(f"  indices:{f} ", digits).spec == f"indices:{f}"
    meta = tmp_path / "m.csv"
    meta.write_text("index,site\n0,A\n1,B\n")
    assert parse_forget(f"where:{meta}:  site == 'A'  ", digits).spec == f"where:{meta}:site == 'A'"


def test_a_reference_recorded_under_another_spelling_is_the_same_spec(digits):
    from langevin_unlearning.core.digest import index_digest
    from langevin_unlearning.store.agreement import check_reference_split
    from langevin_unlearning.store.runmeta import RunMeta

    split = parse_forget("class:3", digits)
    old = RunMeta(
        model={},
        weights_sha256="",
        forget="class:03",
        exclude_forget=True,
        train_indices_sha256=index_digest(split.train_remain),
    )
    check_reference_split(old, split)  # a sidecar that spelled the spec class:03 agrees with class:3
    with pytest.raises(UserError, match="left out 'class:4'"):
        check_reference_split(RunMeta(model={}, weights_sha256="", forget="class:4", exclude_forget=True), split)


def test_an_index_listed_twice_is_refused_naming_both_lines(digits, tmp_path, capsys):
    f = tmp_path / "forget.txt"
    f.write_text("# rows to delete\n5\n3\n\n5\n100\n")
    with pytest.raises(
        UserError, match=r"forget.txt:5: index 5 is already listed on line 2; list each index once"
    ) as e:
        parse_forget(f"indices:{f}", digits)
    assert "\n" not in str(e.value)
    code = main(["train", "--forget", f"indices:{f}", "--epochs", "1", "--out", str(tmp_path / "x"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "already listed on line 2" in err and err.strip().count("\n") == 0, err
    assert not (tmp_path / "x").exists()
