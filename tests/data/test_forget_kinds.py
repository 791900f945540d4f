"""random:F (SalUn's random data forgetting) and sequences of requests ('A then B')."""

from __future__ import annotations

import pytest
import torch

from langevin_unlearning.core.errors import UserError
from langevin_unlearning.data import parse_forget
from langevin_unlearning.data.forget import canonical_spec, request_splits


def test_random_fraction_is_seeded_class_stratified_with_an_empty_test_forget_set(digits):
    split = parse_forget("random:0.1", digits, seed=0)
    labels = digits.train.labels
    for c in range(digits.num_classes):
        in_class = int((labels == c).sum())
        assert int((labels[split.train_forget] == c).sum()) == round(0.1 * in_class)
    assert len(split.test_forget) == 0 and torch.equal(split.test_remain, torch.arange(len(digits.test)))
    # forget and remain partition the training set
    both = torch.cat([split.train_forget, split.train_remain]).sort().values
    assert torch.equal(both, torch.arange(len(digits.train)))
    assert torch.equal(parse_forget("random:0.1", digits, seed=0).train_forget, split.train_forget)
    assert not torch.equal(parse_forget("random:0.1", digits, seed=1).train_forget, split.train_forget)


@pytest.mark.parametrize("spec", ["random:0", "random:1", "random:1.5", "random:x", "random:"])
def test_random_fraction_outside_zero_one_is_one_line(digits, spec):
    with pytest.raises(UserError, match=r"random:F|\(0, 1\)"):
        parse_forget(spec, digits)


def test_spellings_of_one_random_spec_are_one_canonical_spec():
    assert canonical_spec(" random:0.10 ") == "random:0.1"
    assert canonical_spec("class:03 then  class:8") == "class:3 then class:8"


def test_a_sequence_is_the_union_and_each_request_leaves_out_what_went_before(digits):
    union = parse_forget("class:3 then class:8", digits)
    three, eight = parse_forget("class:3", digits), parse_forget("class:8", digits)
    assert torch.equal(union.train_forget, torch.cat([three.train_forget, eight.train_forget]).sort().values)
    assert torch.equal(union.test_forget, torch.cat([three.test_forget, eight.test_forget]).sort().values)
    first, second = request_splits("class:3 then class:8", digits)
    assert torch.equal(first.train_forget, three.train_forget) and torch.equal(first.train_remain, three.train_remain)
    assert torch.equal(second.train_forget, eight.train_forget)
    assert torch.equal(second.train_remain, union.train_remain)  # class 3 is gone by the second request


def test_a_bad_part_of_a_sequence_is_one_line(digits):
    with pytest.raises(UserError, match="class 12 is out of range"):
        parse_forget("class:3 then class:12", digits)
