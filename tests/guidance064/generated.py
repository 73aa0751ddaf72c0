"""Random templates over the Guidance constructs, for the 0.0.64 differential test.

`generate(seed, count)` builds the same `Case`s in any interpreter (plain `random.Random`), so
the 0.0.64 runner and our test make them independently and only the seed crosses the process
boundary. Templates mix text, variables and paths, whitespace control, comments, `#if/#else`,
`#unless`, `#each` (lists, dicts, nested lists with `{{#each this}}`, @-variables), `#block`
(named, hidden), `gen`, inline `select`, role blocks (some hidden), `#geneach` with
`num_iterations` (items or fields, `set 'this.k'`, join, hidden), `set`, helper and Python
function calls (sync and async) and, in some, one top-level `{{await 'later'}}` resumed by a
second call.

They stay clear of 0.0.64's known defects and of what the two Mocks do differently:
- no `{{elif}}`, no `and`/`or`, no negative index, no `{{#select}}` block, no variable named
  `items`;
- text never holds quotes, `<`, `{`, `}` or a backslash, so no quote or XML stop is inferred
  (0.0.64 never infers them; see docs/compatibility.md);
- inside a role block a `gen` is the body's last node (0.0.64 also stops at the role's end when
  text follows the gen, by accident);
- no comment after an `await`: 0.0.64 resumes by re-parsing the partial program, which has
  lost its comments, so a `~` next to a former comment strips more than in one run (its known
  re-parsing defect);
- every Mock answer is one word starting with `w`, and select's options start with distinct
  letters, `w...` first, so both Mocks pick the same option.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

TEXT_ALPHABET = "ab xy.,:;!?-\n"
VARIABLES: dict[str, Any] = {
    "name": "Ann", "n": 2, "zero": 0, "flag": True, "off": False, "empty": "",
    "things": ["a", "b", "c"], "table": {"x": 1, "y": 2}, "obj": {"b": "B", "c": {"d": "D"}},
    "arr": [10, 20, 30], "rows": [[1, 2], [3]],
}
VALUES = ["name", "n", "obj.b", "obj.c.d", "arr[1]", "things[0]", "zero", "flag"]
CONDITIONS = ["flag", "off", "zero", "empty", "things", "name", "(equal n 2)", "not flag",
              "n > 1", "n == 3", "(contains things 'b')", "(greater n 5)", "(is_even n)"]
CALLS = ["(add n 1)", "(subtract n 3)", "(multiply n n)", "(strip '  s ')", "(len things)",
         "(equal name 'Ann')", "(shout name)", "(describe name age=n)", "(fetch_value 'k')",
         "(slow_add n b=2)", "(join_words 'p' name sep='+')"]


@dataclass
class _Gen:
    rng: random.Random
    gens: int = 0  # gen tags so far (each gets its own variable name)
    calls: int = 0  # model calls the template will make (for the Mock script length)
    comments: bool = True  # off after an await (see the module docstring)

    def text(self) -> str:
        return "".join(self.rng.choice(TEXT_ALPHABET) for _ in range(self.rng.randint(1, 5)))

    def tag(self, body: str) -> str:
        left = "~" if self.rng.random() < 0.2 else ""
        right = "~" if self.rng.random() < 0.2 else ""
        return "{{" + left + body + right + "}}"

    def block(self, name: str, args: str, inner: str, middle: str = "") -> str:
        return (self.tag(f"#{name}{args}") + inner + middle + self.tag(f"/{name}"))

    def body(self, depth: int, loop: str | None, repeat: int) -> str:
        parts = [self.piece(depth, loop, repeat) for _ in range(self.rng.randint(1, 4))]
        return "".join(parts)

    def piece(self, depth: int, loop: str | None, repeat: int) -> str:
        kinds = ["text", "text", "value", "call", "gen", "set"] + (
            ["comment"] if self.comments else [])
        if loop in ("list", "dict", "rows"):
            kinds += ["loopvar", "loopvar"]
        if loop == "rows":
            kinds += ["inner"]
        if depth < 2:
            kinds += ["if", "unless", "each", "block", "role", "select"]
            if loop is None:
                kinds += ["geneach"]
        kind = self.rng.choice(kinds)
        return getattr(self, f"p_{kind}")(depth, loop, repeat)

    def p_text(self, depth: int, loop: str | None, repeat: int) -> str:
        return self.text()

    def p_value(self, depth: int, loop: str | None, repeat: int) -> str:
        return self.tag(self.rng.choice(VALUES))

    def p_comment(self, depth: int, loop: str | None, repeat: int) -> str:
        return self.rng.choice(["{{! note }}", "{{!-- long {{x}} --}}"])

    def p_call(self, depth: int, loop: str | None, repeat: int) -> str:
        return self.tag(self.rng.choice(CALLS)[1:-1])

    def p_loopvar(self, depth: int, loop: str | None, repeat: int) -> str:
        options = ["this", "@index", "@first", "@last"] + (["@key"] if loop == "dict" else [])
        return self.tag(self.rng.choice(options))

    def p_gen(self, depth: int, loop: str | None, repeat: int) -> str:
        self.gens += 1
        self.calls += repeat
        name = f"g{self.gens}"
        extra = self.rng.choice(["", " max_tokens=3", " temperature=0.5", " hidden=True"])
        append = " list_append=True" if repeat > 1 else ""
        return self.tag(f"gen '{name}'{extra}{append}")

    def p_select(self, depth: int, loop: str | None, repeat: int) -> str:
        self.gens += 1
        self.calls += repeat
        append = " list_append=True" if repeat > 1 else ""
        return self.tag(f"select 's{self.gens}' options=['w', 'q']{append}")

    def p_set(self, depth: int, loop: str | None, repeat: int) -> str:
        self.gens += 1
        value = self.rng.choice(["'v'", "3", "name", "(add n 2)"])
        hidden = self.rng.choice(["", " hidden=False"])
        return self.tag(f"set 'v{self.gens}' {value}{hidden}")

    def p_if(self, depth: int, loop: str | None, repeat: int) -> str:
        cond = self.rng.choice(CONDITIONS)
        if self.rng.random() < 0.5:
            return self.block("if", f" {cond}", self.body(depth + 1, loop, repeat))
        return self.block("if", f" {cond}", self.body(depth + 1, loop, repeat),
                          self.tag("else") + self.body(depth + 1, loop, repeat))

    def p_unless(self, depth: int, loop: str | None, repeat: int) -> str:
        cond = self.rng.choice(CONDITIONS[:7])
        return self.block("unless", f" {cond}", self.body(depth + 1, loop, repeat))

    def p_each(self, depth: int, loop: str | None, repeat: int) -> str:
        over, kind, size = self.rng.choice([("things", "list", 3), ("table", "dict", 2),
                                            ("arr", "list", 3), ("rows", "rows", 2)])
        hidden = " hidden=True" if self.rng.random() < 0.2 else ""
        return self.block("each", f" {over}{hidden}", self.body(depth + 1, kind, repeat * size))

    def p_inner(self, depth: int, loop: str | None, repeat: int) -> str:
        """`{{#each this}}` over a row of `rows`."""
        return self.block("each", " this", self.body(depth + 1, "list", repeat * 2))

    def p_block(self, depth: int, loop: str | None, repeat: int) -> str:
        self.gens += 1
        args = self.rng.choice(["", f" 'b{self.gens}'", " hidden=True",
                                f" 'b{self.gens}' hidden=True"])
        return self.block("block", args, self.body(depth + 1, loop, repeat))

    def p_role(self, depth: int, loop: str | None, repeat: int) -> str:
        role = self.rng.choice(["system", "user", "assistant"])
        inner = self.text()
        if self.rng.random() < 0.6:
            inner += self.p_gen(depth, loop, repeat)  # last in the body
        hidden = " hidden=True" if self.rng.random() < 0.2 else ""
        return self.block(role, hidden, inner)

    def p_geneach(self, depth: int, loop: str | None, repeat: int) -> str:
        self.gens += 1
        count = self.rng.randint(1, 3)
        self.calls += repeat * count
        if self.rng.random() < 0.5:
            body = self.text() + self.tag("gen 'this' max_tokens=2") + self.text()
        else:  # fields, one of them set rather than generated
            self.calls -= repeat * count
            self.calls += 2 * repeat * count
            body = (self.text() + self.tag("gen 'this.a' max_tokens=2") + self.text()
                    + self.tag("set 'this.k' @index") + self.tag("gen 'this.b' max_tokens=2"))
        options = self.rng.choice(["", " join=', '", " hidden=True"])
        return self.block("geneach", f" 'l{self.gens}' num_iterations={count}{options}", body)


def generate(seed: int, count: int, case_type: Any, functions: dict[str, Any]) -> list[Any]:
    """`count` cases (built with `case_type`, the `Case` class of cases.py, with `functions`
    among the variables) from `seed`."""
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        gen = _Gen(rng)
        template = gen.body(0, None, 1)
        runs: tuple[dict[str, Any], ...] = ({},)
        if rng.random() < 0.25:
            gen.comments = False
            template += gen.tag("await 'later'") + gen.body(0, None, 1)
            runs = ({}, {"later": "L"})
        script = [f"w{i}" for i in range(max(gen.calls, 1))]
        cases.append(case_type(f"random_{seed}_{index}", template, mock=script,
                               variables={**VARIABLES, **functions}, runs=runs))
    return cases
