import pytest

from plmkit import backends
from plmkit.config import GenerateConfig
from plmkit.errors import InvalidInputError, WrongModelKindError
from plmkit.pipelines.generate import GenerationInterrupted, fit_context, generate
from plmkit.pipelines.text_stream import cut_at_stop


def test_greedy_is_deterministic_and_counts_tokens(tiny_gpt2_dir):
    config = GenerateConfig(max_new_tokens=8)
    first = generate("the cat sat", str(tiny_gpt2_dir), config)
    assert first.new_tokens <= 8 and first.prompt_tokens > 0
    assert generate("the cat sat", str(tiny_gpt2_dir), config).text == first.text


def test_max_length_includes_the_prompt(tiny_gpt2_dir):
    result = generate("the cat sat", str(tiny_gpt2_dir), GenerateConfig(max_length=12))
    assert result.prompt_tokens + result.new_tokens <= 12


def test_sampling_seed_reproducible(tiny_gpt2_dir):
    config = GenerateConfig(max_new_tokens=12, strategy="sample", seed=3, temperature=1.5)
    a = generate("the movie", str(tiny_gpt2_dir), config).text
    assert generate("the movie", str(tiny_gpt2_dir), config).text == a


def test_beam_search_is_hugging_faces(tiny_gpt2_dir):
    """The same ids as HF `generate(num_beams=3, do_sample=False)`, and not greedy's."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).eval()
    ids = tokenizer("the movie", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        output = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            num_beams=3,
            do_sample=False,
            early_stopping=True,
            max_new_tokens=8,
            pad_token_id=tokenizer.eos_token_id,
        )
    expected = output[0, ids.shape[1] :].tolist()
    config = GenerateConfig(max_new_tokens=8, strategy="beam", num_beams=3)
    result = generate("the movie", str(tiny_gpt2_dir), config)
    assert result.prompt_tokens == ids.shape[1] and result.new_tokens == len(expected)
    assert result.text == tokenizer.decode(expected, skip_special_tokens=True)
    greedy = generate("the movie", str(tiny_gpt2_dir), GenerateConfig(max_new_tokens=8))
    assert greedy.text != result.text  # so the comparison above can tell beams from greedy


def test_streaming_pieces_add_up_to_the_text(tiny_gpt2_dir):
    pieces: list[str] = []
    result = generate(
        "the cat", str(tiny_gpt2_dir), GenerateConfig(max_new_tokens=10), pieces.append
    )
    assert "".join(pieces) == result.text
    assert result.first_token_seconds is not None


def test_stop_strings_are_cut(tiny_gpt2_dir):
    full = generate("the cat", str(tiny_gpt2_dir), GenerateConfig(max_new_tokens=20)).text
    stop = full.strip()[:2]
    pieces: list[str] = []
    result = generate(
        "the cat", str(tiny_gpt2_dir), GenerateConfig(max_new_tokens=20, stop=[stop]), pieces.append
    )
    assert stop not in result.text and result.finish_reason == "stop"
    assert "".join(pieces) == result.text


def testcut_at_stop_picks_the_earliest():
    assert cut_at_stop("ab. cd\n", ["\n", "."]) == ("ab", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)


def test_chat_template(tiny_llama_dir):
    result = generate("hi", str(tiny_llama_dir), GenerateConfig(max_new_tokens=4, chat=True))
    assert result.prompt_tokens > 3  # template tokens were added


def test_chat_without_template(tiny_gpt2_dir):
    with pytest.raises(WrongModelKindError, match="no chat template"):
        generate("hi", str(tiny_gpt2_dir), GenerateConfig(chat=True))


@pytest.mark.parametrize(
    "config, message",
    [
        (GenerateConfig(max_new_tokens=0), "max_new_tokens must be > 0"),
        (GenerateConfig(max_length=-1), "max_length must be > 0"),
        (GenerateConfig(max_new_tokens=3, max_length=9), "both"),
        (GenerateConfig(strategy="nucleus"), "unknown strategy"),
        (GenerateConfig(strategy="sample", temperature=0), "temperature"),
        (GenerateConfig(top_p=1.5), "top_p"),
        (GenerateConfig(stop=[""]), "empty stop"),
    ],
)
def test_bad_configs(tiny_gpt2_dir, config, message):
    with pytest.raises(InvalidInputError, match=message):
        generate("the cat", str(tiny_gpt2_dir), config)


def test_max_length_shorter_than_prompt(tiny_gpt2_dir):
    with pytest.raises(InvalidInputError, match="leaves no room"):
        generate("the cat sat on the mat", str(tiny_gpt2_dir), GenerateConfig(max_length=2))


def test_empty_prompt(tiny_gpt2_dir):
    with pytest.raises(InvalidInputError, match="empty prompt"):
        generate("  ", str(tiny_gpt2_dir))


def test_beam_cannot_stream(tiny_gpt2_dir):
    with pytest.raises(InvalidInputError, match="beam"):
        generate("a", str(tiny_gpt2_dir), GenerateConfig(strategy="beam"), on_text=print)


def test_gpt2_without_pad_token_warns_nothing(tiny_gpt2_dir, capfd):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for strategy in ("greedy", "sample", "beam"):
            generate(
                "the cat", str(tiny_gpt2_dir), GenerateConfig(max_new_tokens=4, strategy=strategy)
            )
    err = capfd.readouterr().err
    assert "pad_token_id" not in err and "attention mask" not in err, err


def test_more_new_tokens_than_the_context_holds_are_capped(tiny_gpt2_dir, caplog):
    """GPT-2's learned positions end at n_positions (128): HF raised IndexError past them."""
    config = GenerateConfig(max_new_tokens=100_000)
    with caplog.at_level("WARNING", logger="plmkit"):
        result = generate("the cat sat", str(tiny_gpt2_dir), config, backend="torch-fp32")
    assert result.prompt_tokens + result.new_tokens == 128
    assert result.finish_reason == "length"
    assert "not 100,000" in result.note and "holds 128 tokens" in result.note
    assert caplog.messages == [result.note]  # logged: the CLI shows it on stderr at once


def test_max_length_beyond_the_context_is_capped(tiny_gpt2_dir):
    result = generate("the cat sat", str(tiny_gpt2_dir), GenerateConfig(max_length=1000))
    assert result.prompt_tokens + result.new_tokens == 128 and result.note


def test_a_request_that_fits_has_no_note(tiny_gpt2_dir):
    assert generate("the cat", str(tiny_gpt2_dir), GenerateConfig(max_new_tokens=4)).note is None


def test_a_prompt_longer_than_the_context_is_refused_before_a_backend_loads(
    tiny_gpt2_dir, monkeypatch
):
    def no_backend(*args, **kwargs):
        raise AssertionError("a backend was loaded (or measured) for a prompt that cannot fit")

    monkeypatch.setattr(backends, "load_causal_lm_backend", no_backend)
    with pytest.raises(InvalidInputError, match=r"the prompt is 2\d\d tokens.* 128-token context"):
        generate("the cat sat on the mat " * 40, str(tiny_gpt2_dir))


def test_fit_context():
    assert fit_context(10, 5, None, "m") == (5, None)
    assert fit_context(10, 5, 100, "m") == (5, None)
    room, note = fit_context(10, 500, 100, "m on llama-cpp")
    assert room == 90 and note == (
        "generating at most 90 new tokens, not 500: the context of m on llama-cpp holds 100 "
        "tokens, 10 of them the prompt"
    )
    with pytest.raises(InvalidInputError, match="the prompt is 100 tokens") as error:
        fit_context(100, 1, 100, "m on llama-cpp")
    assert "100-token context of m on llama-cpp" in str(error.value)
    assert error.value.fix == "shorten the prompt to under 100 tokens"
    with pytest.raises(InvalidInputError) as error:
        fit_context(100, 1, 100, "m on llama-cpp", ", or use --backend torch-fp32")
    assert error.value.fix.endswith("tokens, or use --backend torch-fp32")


def interrupt_after(pieces: int):
    """An on_text that presses Ctrl-C after `pieces` pieces of text (as SIGINT would)."""
    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        if len(seen) == pieces:
            raise KeyboardInterrupt

    return on_text, seen


def test_ctrl_c_raises_the_partial_result(tiny_llama_dir):
    """Ctrl-C stops generation; GenerationInterrupted (a KeyboardInterrupt, so a script's
    loop stops too) carries what was generated until then."""
    on_text, seen = interrupt_after(3)
    config = GenerateConfig(max_new_tokens=100)  # the tiny Llama repeats " cat" 100 times
    with pytest.raises(GenerationInterrupted) as stop:
        generate("the cat", str(tiny_llama_dir), config, on_text, backend="torch-fp32")
    assert isinstance(stop.value, KeyboardInterrupt)
    result = stop.value.result
    assert result.finish_reason == "interrupted"
    assert 3 <= result.new_tokens < 100 and result.text == "".join(seen)
