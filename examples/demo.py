"""Run the classic RPG-character template on the embedded default model and print the result.

    python examples/demo.py                      # SmolLM2-135M-Instruct on Transformers
    python examples/demo.py --backend llamacpp   # the same GGUF on llama.cpp, in-process
    GUIDANCE_ENGINE_BACKEND=llamacpp make demo   # the same, through make
    python examples/demo.py --mock               # the template on the scripted Mock LLM

Greedy except the mantra and the items (sampled with a seed).
"""

from __future__ import annotations

import argparse
import time

import guidance_engine as guidance

TEMPLATE = """The following is a character profile for an RPG game in JSON format.
```json
{
    "id": "{{id}}",
    "description": "{{description}}",
    "name": "{{gen 'name'}}",
    "age": {{gen 'age' pattern='[0-9]+' stop=','}},
    "armor": "{{#select 'armor'}}leather{{or}}chainmail{{or}}plate{{/select}}",
    "weapon": "{{select 'weapon' options=valid_weapons}}",
    "class": "{{gen 'class'}}",
    "mantra": "{{gen 'mantra' temperature=0.7 seed=1}}",
    "strength": {{gen 'strength' pattern='[0-9]+' stop=','}},
    "items": [{{#geneach 'items' num_iterations=3 join=', '}}"{{gen 'this' temperature=0.7 seed=2}}"{{/geneach}}]
}```"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mock", action="store_true", help="use the scripted Mock LLM")
    parser.add_argument("--backend", choices=("transformers", "llamacpp"), default=None,
                        help="local backend (default: $GUIDANCE_ENGINE_BACKEND, else "
                             "transformers)")
    args = parser.parse_args()
    if args.mock:
        llm = guidance.llms.Mock(
            {'"name": "': "Elara", '"age": ': "27", '"armor": "': "chainmail",
             '"weapon": "': "sword", '"class": "': "ranger", '"mantra": "': "Stay sharp.",
             '"strength": ': "12", "": ["rope", "torch", "map"]}
        )
    else:
        started = time.perf_counter()
        llm = guidance.llms.local_model(args.backend)
        print(f"loaded the default model on {type(llm).__name__} in "
              f"{time.perf_counter() - started:.1f} s")
    program = guidance(TEMPLATE, llm=llm)
    started = time.perf_counter()
    out = program(
        id="e1f491f7",
        description="A quick and nimble fighter.",
        valid_weapons=["sword", "axe", "mace", "spear", "bow", "crossbow"],
    )
    elapsed = time.perf_counter() - started
    print(str(out))
    print()
    for name in ("name", "age", "armor", "weapon", "class", "mantra", "strength", "items"):
        print(f"out[{name!r}] = {out[name]!r}")
    print(f"\nran the template in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
