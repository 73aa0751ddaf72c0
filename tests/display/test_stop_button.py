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


def test_the_installed_ipykernel_routes_comm_messages_through_the_hook_the_button_sets() -> None:
    """The button's clicks reach a blocked cell only through ipykernel's private
    `Comm._reply_subshell_for`; an ipykernel without it gets no button (next test)."""
    from ipykernel.comm import Comm

    assert stop_button.routes_to_subshells(Comm.__new__(Comm))


def test_no_button_where_the_kernel_would_not_route_clicks_to_a_subshell() -> None:
    class OldComm:
        pass

    assert not stop_button.routes_to_subshells(OldComm())
