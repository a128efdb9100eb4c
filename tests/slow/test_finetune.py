"""The issue's done-when on the real minilm and movie-snippets (minutes): `make test-slow`.

    plm finetune --model minilm --data movie-snippets --out DIR
    plm evaluate DIR --data movie-snippets --split test --json   -> accuracy, macro-F1 >= 0.85
    plm predict DIR "a gorgeous, moving film" "a tedious mess"  -> positive, negative

minilm reaches 0.842-0.864 on this test split depending on the seed (measured on a GPU), so the
0.85 target sits at the top of its range: a failure here at 0.84x is the model, not a bug.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _plm(*args: str) -> str:
    command = [sys.executable, "-m", "plmkit.cli", *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def sentiment_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sentiment")
    _plm("finetune", "--model", "minilm", "--data", "movie-snippets", "--out", str(out))
    return out


def test_default_recipe_meets_the_accuracy_target(sentiment_dir):
    report = json.loads(
        _plm("evaluate", str(sentiment_dir), "--data", "movie-snippets", "--split", "test",
             "--json")
    )  # fmt: skip
    assert report["n"] == 1057
    assert report["accuracy"] >= 0.85 and report["macro_f1"] >= 0.85, report


def test_predict_gives_positive_then_negative(sentiment_dir):
    predictions = json.loads(
        _plm("predict", str(sentiment_dir), "a gorgeous, moving film", "a tedious mess", "--json")
    )
    assert [p["label"] for p in predictions] == ["positive", "negative"]


def test_training_record(sentiment_dir):
    record = json.loads((sentiment_dir / "plmkit.json").read_text())
    assert record["model"]["revision"] == "0.1.0"
    assert record["padding"]["waste_avoided"] > 0.9  # vs padding every text to 512
    # the recipe's whole run: 3 epochs of 8,454 texts in batches of 32 (its wall time is a
    # benchmark figure, README "Fine-tuning", not a test's: a timed assert fails on a busy CPU)
    assert record["training"]["steps"] == 795 and record["training"]["epochs"] == 3.0
