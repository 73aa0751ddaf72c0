"""Scopes: lookup order, key-before-attribute, copies that keep shared items shared."""

from __future__ import annotations

import pytest

from guidance_engine.runtime.scopes import (
    MISSING,
    ExecState,
    LoopFrame,
    Variables,
    copy_state,
    copy_value,
    get_attr,
    get_item,
    lookup,
)


def test_lookup_order_local_then_variables_then_builtins() -> None:
    variables = Variables({"x": "var", "y": "var"})
    builtins = {"x": "builtin", "z": "builtin"}
    scopes = [{"x": "outer"}, {"x": "inner"}]
    assert lookup("x", scopes, variables, builtins) == "inner"
    assert lookup("y", scopes, variables, builtins) == "var"
    assert lookup("z", scopes, variables, builtins) == "builtin"
    assert lookup("nope", scopes, variables, builtins) is MISSING


def test_mapping_key_before_attribute() -> None:
    assert get_attr({"items": 1, "keys": 2}, "items") == 1
    with pytest.raises(LookupError) as info:
        get_attr({}, "items")
    assert str(info.value) == "dict value has no key or attribute 'items'"


def test_attributes_of_objects_but_not_private_ones() -> None:
    class Thing:
        name = "t"
        _secret = "s"

    assert get_attr(Thing(), "name") == "t"
    with pytest.raises(LookupError) as info:
        get_attr(Thing(), "_secret")
    assert str(info.value) == "Thing value has no attribute '_secret'"


def test_get_item_negative_and_errors() -> None:
    assert get_item([1, 2, 3], -1) == 3
    with pytest.raises(LookupError) as info:
        get_item([1], "a")
    assert str(info.value) == "cannot index a list value with str 'a'"


def test_copy_value_copies_containers_and_shares_objects() -> None:
    marker = object()
    original = {"a": [1, {"b": marker}]}
    copied = copy_value(original)
    assert copied == original and copied["a"] is not original["a"]
    assert copied["a"][1]["b"] is marker


def test_copy_state_keeps_a_loop_item_linked_to_its_list() -> None:
    item: dict[str, str] = {}
    state = ExecState(Variables({"xs": [item]}), frames=[LoopFrame(0, 0, {"this": item})])
    copied = copy_state(state)
    frame = copied.frames[0]
    assert isinstance(frame, LoopFrame)
    frame.scope["this"]["k"] = "v"
    assert copied.variables.values["xs"] == [{"k": "v"}] and item == {}


def test_fork_journal_replays_in_order() -> None:
    parent = Variables({"r": ["x"]})
    first, second = parent.fork(), parent.fork()
    second.append("r", "b")
    first.append("r", "a")
    first.set("s", 1)
    assert parent.values == {"r": ["x"]}
    for fork in (first, second):
        assert fork.journal is not None
        parent.replay(fork.journal)
    assert parent.values == {"r": ["x", "a", "b"], "s": 1}
