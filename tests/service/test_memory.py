"""What a loaded service keeps: the numpy tables it scores with, not the Keras model they came
from (its variables and the arrays read from the ``.keras`` file would double what a server
holds; ``benchmarks/server_memory.py`` has the figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import train_tiny_run

CHECK = """
import gc, sys
import keras
from movierec.service.state import load
state = load(sys.argv[1])
state.warm()
gc.collect()
alive = [type(o).__name__ for o in gc.get_objects() if isinstance(o, keras.Model)]
print(len(alive), alive)
print(len(state.recommender.recommend([state.user_ids[0]], k=3)[0][0]))
"""


@pytest.mark.parametrize("model", ["dot-bias", "ease"])
def test_a_loaded_service_keeps_no_keras_model(tmp_path: Path, model: str) -> None:
    run = train_tiny_run(tmp_path / model, model=model)
    # a fresh process: this one holds the models the tests trained
    done = subprocess.run([sys.executable, "-c", CHECK, str(run)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    alive, served = done.stdout.strip().splitlines()[-2:]
    assert alive == "0 []", f"Keras models still alive after loading the run: {alive}"
    assert served == "3"  # and it still recommends, from the numpy tables
