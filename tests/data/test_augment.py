import torch

from langevin_unlearning.data.augment import augment, crop_padding


def test_no_padding_no_flip_is_identity():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(augment(x, pad=0, hflip=False), x)


def test_crop_shifts_content_and_fills_with_zeros():
    torch.manual_seed(0)
    x = torch.rand(64, 1, 8, 8) + 1  # strictly positive so padding zeros are visible
    y = augment(x, pad=2, hflip=False)
    assert y.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = []
    for p, out in zip(padded, y):  # each output is some 8x8 window of the zero-padded input
        found = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(p[:, dy : dy + 8, dx : dx + 8], out)]
        assert found, "output is not a crop of the padded input"
        offsets.append(found[0])
    assert len(set(offsets)) > 10  # offsets vary across the batch
    assert sum(o != (2, 2) for o in offsets) > 40


def test_flip_mirrors_about_half_the_batch():
    torch.manual_seed(0)
    x = torch.rand(200, 1, 4, 4)
    y = augment(x, pad=0, hflip=True)
    flipped = torch.tensor([torch.equal(a, b.flip(2)) for a, b in zip(x, y)])
    kept = torch.tensor([torch.equal(a, b) for a, b in zip(x, y)])
    assert (flipped | kept).all()
    assert 60 < int(flipped.sum()) < 140


def test_crop_padding_sizes():
    assert crop_padding(32) == 4 and crop_padding(28) == 3 and crop_padding(8) == 1
