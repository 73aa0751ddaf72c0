"""guidance.llms.OpenAI against a real vLLM server on 127.0.0.1 (CPU build, the converted
SmolLM2 in float32), through the recording fault proxy.

The server is started once per session (`vllm_server` in tests/conftest.py). Sampled tests batch
their samples (`n`, concurrent programs) so the whole file stays short on one CPU thread.
"""

from __future__ import annotations

from typing import Any

import guidance_engine as guidance


def _llm(url: str, **kwargs: Any) -> Any:
    return guidance.llms.OpenAI("smollm2", api_type="vllm", base_url=url, caching=False,
                                **kwargs)


def test_the_converted_model_loads_identically_in_vllm_and_transformers(
    vllm_server: Any, smol_llm: Any
) -> None:
    """Same checkpoint, same greedy continuation (a checkpoint without the tied embedding
    under its standard name would give vLLM random embeddings and garbage here)."""
    import torch

    prompt = "The three primary colors are"
    ids = smol_llm.tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = smol_llm.model.generate(ids, max_new_tokens=24, do_sample=False,
                                      pad_token_id=smol_llm.pad_id)
    expected = smol_llm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    client = _llm(vllm_server.base_url).client(asynchronous=False)
    answer = client.completions.create(model="smollm2", prompt=prompt, max_tokens=24,
                                       temperature=0.0)
    assert answer.choices[0].text == expected
    assert len(expected) > 40
