"""Binding: loopback by default, a warning for another address without a key."""

from __future__ import annotations

import inspect

from plmkit.serve.server import open_bind_warning, serve


def test_loopback_is_the_default():
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"


def test_another_address_without_a_key_warns():
    assert open_bind_warning("127.0.0.1", None) is None
    assert open_bind_warning("0.0.0.0", "k") is None
    warning = open_bind_warning("0.0.0.0", None)
    assert warning and "--api-key" in warning and "PLMKIT_API_KEY" in warning
