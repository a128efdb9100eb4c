"""`plm demo`: the reference walkthrough, end to end, on the embedded models.

Part 2 of the walkthrough (BertTokenizer/BertModel on "The cat sat on the mat.") runs on
`minilm`, part 3 (GPT2LMHeadModel.generate, max_length=50, pad = eos) on `smollm2`, and part 4
(fine-tune + evaluate) on the built-in movie-snippets data, as a short run (150 steps by
default; `plm finetune` runs the full recipe). Output goes through `emit`, so the CLI prints
it and tests capture it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from plmkit.config import GenerateConfig

SENTENCE = "The cat sat on the mat."
PROMPT = "The future of AI is"


def _section(emit: Callable[[str], None], title: str) -> None:
    emit("")
    emit(f"=== {title} ===")


def run_demo(
    emit: Callable[[str], None] = print,
    encoder: str = "minilm",
    decoder: str = "smollm2",
    stream: Callable[[str], None] | None = None,
    finetune_steps: int = 150,
    out_dir: str = "runs/demo-sentiment",
    on_event: Callable[[object], None] | None = None,
) -> dict:
    """Run the walkthrough; returns the key numbers it printed. `on_event` gets part 4's
    fine-tuning events (`training.events`: the CLI prints its steps, rate and time left)."""
    from plmkit.errors import InvalidInputError
    from plmkit.pipelines.encode import encode

    if finetune_steps < 0:
        raise InvalidInputError(
            f"--finetune-steps must be >= 0, got {finetune_steps}", "pass 0 to skip part 4"
        )
    from plmkit.pipelines.generate import generate
    from plmkit.pipelines.mask_demo import mask_demo
    from plmkit.pipelines.tokenize import tokenize

    results: dict = {}
    _section(emit, f"Part 2: BERT-style encoder ({encoder})")
    tokens = tokenize(SENTENCE, encoder)
    emit(f"Original sentence: '{SENTENCE}'")
    emit(f"Tokenized IDs: {tokens.input_ids}")
    emit(f"Tokens: {tokens.tokens}")
    encoded = encode(SENTENCE, encoder, return_token_states=True)
    shape = list(encoded.shapes[0])
    emit(f"Shape of the encoder's last_hidden_state: {shape}  (batch, tokens, hidden)")
    results["last_hidden_state_shape"] = shape

    pairs = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell."]
    vectors = encode(pairs, encoder, normalize=True).embeddings
    sims = vectors @ vectors.T
    emit("Sentence embeddings (mean-pooled, L2-normalised), cosine similarity:")
    for i in (1, 2):
        emit(f"  {pairs[0]!r} vs {pairs[i]!r}: {float(sims[0, i]):.3f}")
    results["similarity"] = [float(sims[0, 1]), float(sims[0, 2])]

    _section(emit, "Pre-training objective: masked language modelling (BERT)")
    demo = mask_demo(SENTENCE, encoder, seed=0)
    for token in demo.tokens:
        if token.action != "-":
            emit(f"  picked '{token.token}' at {token.position}: {token.action} -> '{token.shown}'")
    m = demo.measured
    emit(
        f"  over {demo.repeats} draws: {m['picked_fraction']:.1%} of tokens picked; of those "
        f"{m['mask_fraction']:.0%} [MASK], {m['random_fraction']:.0%} random, "
        f"{m['kept_fraction']:.0%} kept (BERT: 15%; 80/10/10)"
    )
    results["masking"] = m

    _section(emit, f"Part 3: GPT-style decoder ({decoder}), greedy, max_length=50")
    emit(f"Prompt: '{PROMPT}'")
    if stream is not None:
        stream(PROMPT)
    out = generate(PROMPT, decoder, GenerateConfig(max_length=50), on_text=stream)
    if stream is not None:
        emit("")
    emit(f"Generated Text: '{PROMPT}{out.text}'")
    emit(f"  ({out.new_tokens} new tokens, {out.tokens_per_second:.1f} tokens/s)")
    results["generated"] = out.text
    results["embedding_norm"] = float(np.linalg.norm(encoded.embeddings[0]))
    if finetune_steps > 0:
        results["finetune"] = _finetune_part(emit, encoder, finetune_steps, out_dir, on_event)
    return results


def _finetune_part(
    emit: Callable[[str], None],
    encoder: str,
    steps: int,
    out_dir: str,
    on_event: Callable[[object], None] | None = None,
) -> dict:
    """Part 4: fine-tune the encoder on movie-snippets (a short run), evaluate, predict."""
    from plmkit.config import FinetuneConfig
    from plmkit.pipelines.classify import classify
    from plmkit.recipes.finetune_classifier import finetune

    _section(emit, f"Part 4: fine-tuning {encoder} for sentiment (movie-snippets, {steps} steps)")
    config = FinetuneConfig(
        model=encoder, data="movie-snippets", out=out_dir, max_steps=steps, seed=42
    )
    result = finetune(config, on_event=on_event)
    record = result.record
    sizes = record["data"]["sizes"]
    emit(
        f"train/validation/test: {sizes.get('train')}/{sizes.get('validation')}/"
        f"{sizes.get('test')} rows; max_length {record['max_length']}; "
        f"{record['training']['samples_per_second']:.1f} samples/s "
        f"({record.get('dtype', 'fp32')}); "
        f"{record['training']['seconds']:.0f} s"
    )
    test = result.metrics["test"]
    emit(
        f"Evaluation on the test split: accuracy {test['accuracy']:.3f}, "
        f"macro-F1 {test['macro_f1']:.3f}"
    )
    examples = ["a gorgeous, moving film", "a tedious mess"]
    for prediction in classify(examples, str(result.out)):
        emit(f"  {prediction.text!r}: {prediction.label} ({prediction.score:.2f})")
    emit(
        f"Saved to {result.out}; the full recipe: plm finetune --model {encoder} "
        "--data movie-snippets --out runs/sentiment"
    )
    return {"test": {k: test[k] for k in ("accuracy", "macro_f1")}, "out": str(result.out)}
