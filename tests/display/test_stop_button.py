"""When the stop button cannot work it is not shown (the kernel's interrupt still works); the
real kernel and browser tests are tests/notebooks/test_stop_button.py and test_browser.py."""

from __future__ import annotations

import sys
import types

import pytest

from guidance_engine.display import stop_button


def test_no_button_without_anywidget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anywidget", None)  # as if it were not installed
    assert stop_button.offer(lambda: None) is None


def test_no_button_for_a_blocking_call_in_a_kernel_without_subshells(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_kernel = types.SimpleNamespace(_supports_kernel_subshells=False)
    monkeypatch.setattr(stop_button, "_kernel", lambda: old_kernel)
    assert stop_button._subshell(old_kernel) is None
    assert stop_button.offer(lambda: None) is None


def test_the_subshell_is_made_once_per_kernel() -> None:
    kernel = types.SimpleNamespace(_guidance_engine_stop_subshell="abc")
    assert stop_button._subshell(kernel) == "abc"
