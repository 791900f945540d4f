"""The CPU thread policy: asked, then the environment, then one thread for tiny work, never more than idle cores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from langevin_unlearning.core import threads

ROOT = Path(__file__).resolve().parents[2]
DIGITS = threads.work_size((1, 8, 8), 0.25)  # the demo: 8x8 digits, AllCNN width 0.25
FASHION = threads.work_size((1, 28, 28), 0.25)


@pytest.fixture
def machine(monkeypatch):
    """A fake machine: no thread variables, ``cores`` physical cores, a 1-minute load of ``load``."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "own_load", lambda: 0.0)

    def set_machine(cores: int, load: float):
        monkeypatch.setattr(threads, "physical_cores", lambda: cores)
        monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))

    set_machine(2, 0.0)
    return set_machine


def test_tiny_work_gets_one_thread_even_on_an_idle_machine(machine):
    machine(8, 0.0)
    assert threads.choose_threads(DIGITS) == threads.ThreadChoice(1, "tiny model")


def test_larger_work_on_an_idle_machine_gets_every_core(machine):
    machine(2, 0.0)
    assert threads.choose_threads(FASHION) == threads.ThreadChoice(2, "load")
    assert threads.choose_threads(None) == threads.ThreadChoice(2, "load")  # work unknown: no tiny rule


@pytest.mark.parametrize("cores", [1, 2, 4, 16])
@pytest.mark.parametrize("load", [0.0, 0.4, 0.6, 1.0, 1.5, 2.6, 3.0, 6.0, 10.0, 40.0])
def test_never_more_threads_than_idle_cores(machine, cores, load):
    machine(cores, load)
    choice = threads.choose_threads(FASHION)
    assert choice.reason == "load"
    assert 1 <= choice.count <= max(1, cores - round(load))
    assert choice.count == max(1, min(cores, cores - round(load)))


def test_a_busy_two_core_machine_gets_one_thread(machine):
    machine(2, 6.0)  # the load the demo's langevin step took 1305 s at with two threads
    assert threads.choose_threads(FASHION) == threads.ThreadChoice(1, "load")


def test_this_process_own_work_is_not_counted_as_load(machine, monkeypatch):
    machine(2, 2.1)
    monkeypatch.setattr(threads, "own_load", lambda: 2.0)  # it was us, training the previous model
    assert threads.choose_threads(FASHION).count == 2


def test_asked_wins_over_everything(machine, monkeypatch):
    machine(2, 9.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.choose_threads(DIGITS, asked=3) == threads.ThreadChoice(3, "asked")


@pytest.mark.parametrize("name", ["OMP_NUM_THREADS", "MKL_NUM_THREADS"])
def test_the_environment_is_respected(machine, monkeypatch, name):
    machine(2, 9.0)
    monkeypatch.setenv(name, "3")
    assert threads.choose_threads(DIGITS) == threads.ThreadChoice(3, "env")


def test_a_non_number_in_the_environment_is_ignored(machine, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")
    assert threads.choose_threads(DIGITS).reason == "tiny model"


def test_outside_automatic_the_callers_count_stands(machine):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        assert threads.use_threads(DIGITS) == threads.ThreadChoice(3, "caller")
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_automatic_sets_the_count_and_restores_the_callers(machine):
    before = torch.get_num_threads()
    with threads.automatic():
        assert threads.use_threads(DIGITS) == threads.ThreadChoice(1, "tiny model")
        assert torch.get_num_threads() == 1
    with threads.automatic(asked=2):
        assert threads.use_threads(DIGITS) == threads.ThreadChoice(2, "asked")
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before


def test_large_batches_of_tiny_work_get_the_idle_cores_for_their_duration(machine):
    """The boundary search runs a digits model at batch 256: a second thread pays there, not in its updates."""
    machine(2, 0.0)
    before = torch.get_num_threads()
    with threads.automatic():
        threads.use_threads(DIGITS)
        with threads.for_batches(256):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1
        machine(2, 1.8)  # the other core is busy: still one
        with threads.for_batches(256):
            assert torch.get_num_threads() == 1
    with threads.automatic(asked=1):
        threads.use_threads(DIGITS)
        machine(2, 0.0)
        with threads.for_batches(256):
            assert torch.get_num_threads() == 1  # asked wins
    torch.set_num_threads(3)
    try:
        with threads.for_batches(256):  # outside automatic(): the caller's count stands
            assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_importing_the_library_changes_no_thread_state():
    code = (
        "import os, torch; torch.set_num_threads(3)\n"
        "import langevin_unlearning as lu\n"
        "lu.train, lu.unlearn, lu.compare, lu.create_method, lu.load_dataset\n"
        "import langevin_unlearning.cli\n"
        "print(torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("OMP_WAIT_POLICY", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "None"]
