"""The few-row route of linear layers (`llms/few_rows.py`): taken only inside the engine's
passes, for few float32 rows on CPU, with torch's results up to rounding."""

from __future__ import annotations

import copy
import io
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from guidance_engine.llms import few_rows
from guidance_engine.llms.few_rows import FewRowLinear, few_row_products, install


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.up = torch.nn.Linear(16, 48)
        self.down = torch.nn.Linear(48, 16, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(torch.relu(self.up(x)))


class OwnProduct(torch.nn.Linear):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return super().forward(input) * 2


@pytest.fixture
def routed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The row counts the few-row route served (a spy on its product)."""
    calls: list[int] = []
    product = few_rows._product

    def spy(weight: Any, bias: Any, x: Any, rows: int) -> Any:
        calls.append(rows)
        return product(weight, bias, x, rows)

    monkeypatch.setattr(few_rows, "_product", spy)
    yield calls


def test_install_converts_plain_linears_only() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), OwnProduct(4, 4), torch.nn.ReLU())
    assert install(model) == 1
    assert type(model[0]) is FewRowLinear and type(model[1]) is OwnProduct
    assert install(model) == 1  # twice changes nothing
    assert type(model[0]) is FewRowLinear


@pytest.mark.parametrize("rows", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("shape", ["2d", "3d"])
def test_inside_the_block_the_route_gives_torchs_result(
    rows: int, shape: str, routed: list[int], two_threads: None
) -> None:
    model = Tiny()
    x = torch.randn(rows, 16) if shape == "2d" else torch.randn(1, rows, 16)
    expected = model(x)
    install(model)
    with torch.inference_mode(), few_row_products():
        got = model(x)
    assert routed == [rows, rows]  # both layers took the route
    assert got.shape == expected.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_outside_the_block_results_are_torchs_exactly(routed: list[int]) -> None:
    model = Tiny()
    x = torch.randn(1, 3, 16)
    expected = model(x)
    install(model)
    assert torch.equal(model(x), expected)
    assert routed == []


def test_many_rows_and_other_dtypes_keep_torchs_product(
    routed: list[int], two_threads: None
) -> None:
    model = Tiny()
    install(model)
    with torch.inference_mode(), few_row_products():
        model(torch.randn(1, few_rows.MAX_ROWS + 1, 16))
        model.to(torch.bfloat16)(torch.randn(1, 2, 16, dtype=torch.bfloat16))
    assert routed == []


def test_one_thread_takes_the_route_for_fewer_rows(routed: list[int]) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = Tiny()
        install(model)
        with torch.inference_mode(), few_row_products():
            model(torch.randn(few_rows.MAX_ROWS_ONE_THREAD, 16))
            model(torch.randn(few_rows.MAX_ROWS_ONE_THREAD + 1, 16))
    finally:
        torch.set_num_threads(before)
    assert routed == [few_rows.MAX_ROWS_ONE_THREAD] * 2


def test_the_block_is_per_thread(routed: list[int]) -> None:
    model = Tiny()
    install(model)
    inside, outside = threading.Event(), threading.Event()

    def other_thread() -> None:
        inside.wait()
        model(torch.randn(2, 16))  # while the main thread is inside its block
        outside.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with few_row_products():
        inside.set()
        outside.wait()
    thread.join()
    assert routed == []
    with few_row_products():
        with few_row_products():
            pass
        model(torch.randn(2, 16))  # a nested block leaves the outer one on
    assert routed == [2, 2]


def test_installed_models_pickle_copy_and_keep_their_state_dict() -> None:
    model = Tiny()
    keys = list(model.state_dict())
    install(model)
    assert list(model.state_dict()) == keys
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    x = torch.randn(2, 16)
    assert torch.equal(loaded(x), model(x))
    assert torch.equal(copy.deepcopy(model)(x), model(x))
    assert torch.equal(pickle.loads(pickle.dumps(model))(x), model(x))


def test_the_engine_routes_its_decode_passes(smol_llm: Any, routed: list[int]) -> None:
    """Every linear layer of the default model is converted, and a gen's passes after the
    prompt's prefill go through the route, one row at a time."""
    import asyncio

    from guidance_engine.llms.base import GenRequest
    from guidance_engine.llms.transformers import Transformers

    layers = [m for m in smol_llm.model.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and all(type(m) is FewRowLinear for m in layers)
    # A wrapper of its own: no prefix cached by other tests, so the whole prompt is prefilled.
    llm = Transformers(smol_llm.model, smol_llm.tokenizer, caching=False)
    prompt = "The capital of France is Paris, and the capital of Italy is"
    assert len(llm.encode(prompt)) > few_rows.MAX_ROWS
    session = llm.session()
    try:
        result = asyncio.run(session.gen(GenRequest(prompt, max_tokens=3, temperature=0.0,
                                                    token_healing=False)))
    finally:
        session.close()
    assert result.stats.forward_passes == 3
    # The prefill has more rows than the route takes, but for its one row of logits (the
    # output layer); the two decode passes after it feed one token through every layer.
    assert routed == [1] * (2 * len(layers) + 1)


def test_the_route_can_be_switched_off(smol_llm: Any, routed: list[int]) -> None:
    """`few_row_products=False`: the engine's logits are the model's own, bit for bit."""
    from guidance_engine.llms.kv import KVCache
    from guidance_engine.llms.transformers import Transformers

    plain = Transformers(smol_llm.model, smol_llm.tokenizer, few_row_products=False)
    ids = smol_llm.encode("The capital of France is")
    with torch.inference_mode():
        own = smol_llm.model(input_ids=torch.tensor([ids]), logits_to_keep=1).logits[0, -1]
    assert torch.equal(plain.extend(KVCache(), ids)[0], own)
    assert routed == []
    routed_logits = smol_llm.extend(KVCache(), ids)[0]
    assert routed == [1]  # the prefill's one row of logits
    torch.testing.assert_close(routed_logits, own, rtol=1e-4, atol=1e-4)
