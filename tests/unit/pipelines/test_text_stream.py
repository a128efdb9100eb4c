"""Streamed text: whole pieces through the callback, and Ctrl-C raised between pieces."""

from __future__ import annotations

import os
import signal

import pytest

from plmkit.pipelines.text_stream import TextStreamer, between_pieces


class Words:
    """A stand-in tokenizer: token i decodes to " w{i}"."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(f" w{i}" for i in ids)


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler, even under a parent that ignores SIGINT."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_pieces_end_at_a_space_and_the_rest_comes_at_the_end():
    shown: list[str] = []
    streamer = TextStreamer(Words(), shown.append, stops=[])
    for token in (1, 2, 3):
        streamer.add([token])
    assert shown == [" w1", " w2"]
    streamer.end()
    assert "".join(shown) == " w1 w2 w3"


def test_ctrl_c_while_a_piece_is_shown_is_raised_once_it_has_been(default_sigint):
    shown: list[str] = []

    def show(piece: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands inside the callback
        shown.append(piece)

    streamer = TextStreamer(Words(), show, stops=[])
    with pytest.raises(KeyboardInterrupt), between_pieces(streamer):
        for token in range(1, 10):
            streamer.add([token])
    assert shown == [" w1"] and streamer.emitted == len(" w1")  # counted and shown alike
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_ctrl_c_between_pieces_raises_at_once(default_sigint):
    streamer = TextStreamer(Words(), lambda _: None, stops=[])
    with pytest.raises(KeyboardInterrupt), between_pieces(streamer):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs between bytecodes, before this ends
            pass
        raise AssertionError("Ctrl-C was not raised")
