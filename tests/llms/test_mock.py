"""The Mock LLM: scripted outputs, stop handling, select choice, role markup."""

from __future__ import annotations

import asyncio
import math

import pytest

from guidance_engine.errors import GuidanceError
from guidance_engine.llms.base import GenRequest, SelectRequest
from guidance_engine.llms.mock import Mock, choose_option


def gen(llm: Mock, prompt: str, **kwargs: object) -> tuple[str, ...]:
    result = asyncio.run(llm.session().gen(GenRequest(prompt=prompt, **kwargs)))  # type: ignore[arg-type]
    return result.texts


def test_string_answers_every_call() -> None:
    llm = Mock("hi")
    assert [gen(llm, "a"), gen(llm, "b")] == [("hi",), ("hi",)]


def test_list_answers_in_turn_then_repeats_last() -> None:
    llm = Mock(["one", "two"])
    assert [gen(llm, "x")[0] for _ in range(3)] == ["one", "two", "two"]


def test_none_counts_up() -> None:
    llm = Mock()
    assert [gen(llm, "x")[0] for _ in range(2)] == ["mock output 0", "mock output 1"]


def test_dict_first_matching_suffix_wins_and_lists_advance_per_key() -> None:
    llm = Mock({"Name:": "Bob", "": ["30", "31"]})
    assert gen(llm, "Name: ") == ("Bob",)
    assert gen(llm, "Age: ") == ("30",)
    assert gen(llm, "Name:") == ("Bob",)
    assert gen(llm, "Age: ") == ("31",)


def test_dict_value_with_finish_reason() -> None:
    llm = Mock({"": {"text": "cut", "finish_reason": "length"}})
    result = asyncio.run(llm.session().gen(GenRequest(prompt="p")))
    assert result.finish_reasons == ("length",)


def test_unmatched_prompt_names_keys() -> None:
    llm = Mock({"Q:": "a"})
    with pytest.raises(GuidanceError) as err:
        gen(llm, "nothing here")
    assert str(err.value) == (
        "Mock has no output for this prompt: no key is a suffix of it (keys: 'Q:'); "
        "prompt ends with 'nothing here'"
    )


def test_bad_output_type_is_rejected() -> None:
    with pytest.raises(GuidanceError, match="must be a string, a non-empty list or a dict"):
        Mock(42)  # type: ignore[arg-type]


def test_stop_strings_cut_and_are_reported() -> None:
    llm = Mock("Bob\nAge: 3")
    result = asyncio.run(llm.session().gen(GenRequest(prompt="", stop=("\n", "Age"))))
    assert result.texts == ("Bob",)
    assert result.stop_texts == ("\n",)


def test_stop_regex_and_max_tokens() -> None:
    llm = Mock("one two 33 four")
    assert gen(llm, "", stop_regex=(r"\d+",)) == ("one two ",)
    result = asyncio.run(llm.session().gen(GenRequest(prompt="", max_tokens=2)))
    assert result.texts == ("one two",)
    assert result.finish_reasons == ("length",)


def test_n_samples_take_successive_outputs() -> None:
    llm = Mock(["a", "b", "c"])
    assert gen(llm, "", n=2) == ("a", "b")


def test_streaming_chunks_concatenate_to_text() -> None:
    llm = Mock("alpha beta gamma")
    chunks: list[tuple[int, str]] = []
    asyncio.run(llm.session().gen(GenRequest(prompt=""), lambda i, t: chunks.append((i, t))))
    assert chunks == [(0, "alpha"), (0, " beta"), (0, " gamma")]


def test_select_prefers_longest_prefix_option() -> None:
    llm = Mock("chainmail, obviously")
    result = asyncio.run(
        llm.session().select(SelectRequest(prompt="", options=("chain", "chainmail", "plate")))
    )
    assert result.choice == "chainmail"
    assert result.logprobs["chainmail"] == 0.0
    assert result.logprobs["plate"] == -math.inf


def test_choose_option_by_name_then_first() -> None:
    assert choose_option("I pick plate.", ["leather", "plate"]) == "plate"
    assert choose_option("???", ["leather", "plate"]) == "leather"


def test_role_markup_is_chatml() -> None:
    llm = Mock()
    assert llm.role_start("user") + "hi" + llm.role_end("user") == (
        "<|im_start|>user\nhi<|im_end|>"
    )


def test_calls_are_recorded() -> None:
    llm = Mock("x")
    gen(llm, "prompt one")
    assert [call.prompt for call in llm.calls] == ["prompt one"]
