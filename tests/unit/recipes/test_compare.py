"""recipes/compare.py and `plm compare`: several starting models fine-tuned alike; leakage."""

import json
import random

import pytest
from conftest import WORDS
from typer.testing import CliRunner

from plmkit.cli import app
from plmkit.config import PretrainConfig
from plmkit.errors import InvalidInputError
from plmkit.recipes.compare import compare_finetuning
from plmkit.recipes.pretrain_mlm import pretrain_mlm
from plmkit.training.events import CompareArm, ModelSaved


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    """80 labelled 'reviews' (JSON Lines) over the tiny tokenizer's words."""
    rng = random.Random(1)
    rows = []
    for i in range(80):
        mood = ["good", "great", "funny"] if i % 2 else ["bad", "boring", "dull"]
        words = rng.choices(WORDS, k=6) + rng.choices(mood, k=2)
        rows.append({"text": " ".join(words) + " .", "label": "positive" if i % 2 else "negative"})
    path = tmp_path_factory.mktemp("compare") / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def pretrained(tiny_bert_dir, reviews, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrained") / "mlm"
    config = PretrainConfig(
        data=str(reviews),
        out=str(out),
        model=str(tiny_bert_dir),
        block_size=16,
        batch_size=8,
        max_steps=2,
        eval_blocks=4,
        pseudo_perplexity_texts=0,
        bf16=False,
        show_progress=False,
    )
    return pretrain_mlm(config).out


def test_compare_fine_tunes_each_model_on_the_same_split(
    tiny_bert_dir, pretrained, reviews, tmp_path
):
    events = []
    result = compare_finetuning(
        [str(tiny_bert_dir), str(pretrained)],
        data=str(reviews),
        out=tmp_path / "cmp",
        max_steps=2,
        bf16=False,
        on_event=events.append,
    )
    assert [arm.model for arm in result.arms] == [str(tiny_bert_dir), str(pretrained)]
    assert result.arms[0].origin == "as given" and result.arms[0].pretraining is None
    assert "continued pretrain-mlm" in result.arms[1].origin
    assert set(result.arms[1].pretraining) == {"before", "after"}
    saved = json.loads(result.path.read_text())
    assert saved["seed"] == 42 and len(saved["arms"]) == 2
    hashes = [
        json.loads((arm.out / "plmkit.json").read_text())["data"]["hashes"] for arm in result.arms
    ]
    assert hashes[0] == hashes[1]  # the same train / validation / test rows
    arms = [e for e in events if isinstance(e, CompareArm)]
    assert [(e.index, e.of, e.model) for e in arms] == [
        (1, 2, str(tiny_bert_dir)),
        (2, 2, str(pretrained)),
    ]
    assert [e.out for e in events if isinstance(e, ModelSaved)] == [str(a.out) for a in result.arms]


def test_compare_refuses_a_model_pre_trained_on_the_test_rows(pretrained, reviews, tmp_path):
    with pytest.raises(InvalidInputError, match="has seen test texts"):
        compare_finetuning([str(pretrained)], data=str(reviews), out=tmp_path, seed=7)
    with pytest.raises(InvalidInputError, match="given twice"):
        compare_finetuning(["minilm", "minilm"], data=str(reviews), out=tmp_path)


def test_cli_compare_prints_side_by_side(tiny_bert_dir, pretrained, reviews, tmp_path):
    args = ["compare", "-m", str(tiny_bert_dir), "-m", str(pretrained), "--data", str(reviews)]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path), "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.output and "same split for every arm" in result.output
    bad = CliRunner().invoke(
        app, ["compare", "-m", "minilm", "-m", "minilm", "--data", str(reviews)]
    )
    assert bad.exit_code == 2 and "given twice" in bad.output
