"""The original research code's `python main.py --train` command."""

import pytest

from langevin_unlearning.cli.legacy import main
from langevin_unlearning.store.checkpoint import read_meta


def test_train_writes_original_and_retrained(tmp_path, capsys):
    code = main(
        [
            "--forget_class",
            "2",
            "--data_name",
            "digits",
            "--model_name",
            "AllCNN",
            "--width",
            "0.1",
            "--lr",
            "0.05",
            "--epoch",
            "1",
            "--batch_size",
            "64",
            "--gpu_id",
            "0",
            "--train",
            "--save_dir",
            str(tmp_path),
            "--no_progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    original, retrained = tmp_path / "digits_allcnn_original", tmp_path / "digits_allcnn_retrain_forget2"
    assert str(original) in out and str(retrained) in out
    assert read_meta(original).kind == "original"
    assert read_meta(retrained).exclude_forget is True and read_meta(retrained).forget == "class:2"


def test_retrain_only(tmp_path):
    assert (
        main(
            [
                "--data_name",
                "digits",
                "--width",
                "0.1",
                "--epoch",
                "1",
                "--retrain",
                "--save_dir",
                str(tmp_path),
                "--no_progress",
            ]
        )
        == 0
    )
    assert [p.name for p in tmp_path.iterdir()] == ["digits_allcnn_retrain_forget0"]


@pytest.mark.parametrize(
    "argv, message",
    [(["--model_name", "VGG", "--train"], "unknown model 'VGG'"), (["--data_name", "digits"], "nothing to do")],
)
def test_bad_values(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
