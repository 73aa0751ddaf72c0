"""Matrix products for passes that feed one token or a few, on CPU.

Every weight matrix of a decode pass meets one row (a matrix-vector product), or a few rows when
a pass feeds several tokens: the template text after a gen, a healed token, tokens a constraint
forces, the rows of a parallel batch, a select's logits at a few trie nodes. For float32 on CPU,
torch sends one row to MKL's matrix-vector product, which on this project's machine uses one
core of two, and 2-8 rows to MKL's general product with the weights on the transposed side,
which costs 1.5-2.3x a one-token pass although it reads the same weights. Both are slow for the
same memory-bound work. The product `weight @ x.T` on a contiguous block of rows streams each
weight matrix once on every thread: a one-token pass takes 0.70x of torch's and a pass of 2-4
tokens 0.65-0.93x of torch's one-token pass (SmolLM2-135M, 2 threads;
`benchmarks/bench_few_rows.py`). One row is doubled into two equal rows to get there.

`install(model)` makes each plain `nn.Linear` of the model a `FewRowLinear`, which takes that
route for up to `MAX_ROWS` rows of float32 on CPU while the calling thread is inside
`few_row_products()` (the engine's own passes). Everything else runs torch's `Linear.forward`
unchanged, so the user's own calls of the same model object give exactly what they gave
before::

    install(model)
    with few_row_products():
        logits = model(input_ids=three_tokens, ...).logits   # cheaper three-row products

The results equal torch's up to float rounding (the sums run in another order).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

MAX_ROWS = 8  # with two or more threads; from 10 rows on, MKL's own product is as fast
MAX_ROWS_ONE_THREAD = 4  # on one thread the route loses from 8 rows on

_state = threading.local()


@contextmanager
def few_row_products() -> Iterator[None]:
    """Let installed linear layers take the few-row route on this thread for the block."""
    previous = getattr(_state, "limit", 0)
    _state.limit = MAX_ROWS if torch.get_num_threads() > 1 else MAX_ROWS_ONE_THREAD
    try:
        yield
    finally:
        _state.limit = previous


class FewRowLinear(torch.nn.Linear):
    """A `nn.Linear` that takes the few-row route inside `few_row_products()` (module doc)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        rows = input.numel() // input.shape[-1] if input.dim() > 1 and input.shape[-1] else 0
        if (0 < rows <= getattr(_state, "limit", 0) and input.dtype == torch.float32
                and input.device.type == "cpu" and self.weight.dtype == torch.float32
                and self.weight.is_contiguous()):
            return _product(self.weight, self.bias, input, rows)
        return super().forward(input)


def _product(
    weight: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor, rows: int
) -> torch.Tensor:
    flat = x.reshape(rows, x.shape[-1])
    if rows == 1:  # two equal rows: a matrix product, not torch's matrix-vector one
        flat = flat.expand(2, -1).contiguous()
    out = torch.matmul(weight, flat.T)[:, :rows].T.contiguous()
    if bias is not None:
        out += bias
    return out.view(*x.shape[:-1], out.shape[-1])


def install(model: torch.nn.Module) -> int:
    """Make the model's plain `nn.Linear` layers `FewRowLinear`s; returns how many there are.

    Subclasses with a product of their own (quantized layers, adapters) stay as they are.
    Installing twice changes nothing; weights, state dicts and pickles are unaffected.
    """
    count = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = FewRowLinear
        count += type(module) is FewRowLinear
    return count
