"""A local document store and the `search` tool over it (the offline stand-in for Wikipedia).

Records are `{"title", "aliases", "text"}`. A query is answered, in order, by an exact title,
an alias (both ignoring case, punctuation and extra spaces), a close fuzzy match of a title or
alias (typos, a title written inside a longer query), and BM25 over the passages for free text.
The answer is the first sentences of the best passage; when nothing fits, the reply names the
closest titles, as LLMCompiler's Wikipedia tool does::

    >>> store = Docstore([Doc("Mount Everest", ("Everest",), "Everest is 8,849 m high. It is ...")])
    >>> store.search("everest")
    'Everest is 8,849 m high. It is ...'
    >>> store.search("Mont Blanc")
    'Could not find [Mont Blanc]. Similar: [Mount Everest]'
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from guidance_engine.errors import GuidanceError
from guidance_engine.llmcompiler.jsonfile import read_json, records

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ABBREVIATIONS = ("Mr.", "Mrs.", "Dr.", "St.", "Jr.", "Sr.", "No.", "Vol.", "Inc.", "vs.",
                  "U.S.", "D.C.", "U.K.", "Ft.", "Mt.", "L.A.")
_PUNCTUATION = str.maketrans({ch: " " for ch in string.punctuation})


@dataclass(frozen=True)
class Doc:
    title: str
    aliases: tuple[str, ...]
    text: str


def normalize_key(text: str) -> str:
    """Case, punctuation and spacing removed: `"Mount  Everest!"` -> `"mount everest"`."""
    return " ".join(text.casefold().translate(_PUNCTUATION).split())


def first_sentences(text: str, count: int) -> str:
    """The first `count` sentences of `text` (abbreviations such as `Mt.` do not end one)."""
    pieces = _SENTENCE_END.split(text.strip())
    sentences: list[str] = []
    for piece in pieces:
        if sentences and sentences[-1].endswith(_ABBREVIATIONS):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return " ".join(sentences[:count])


def _doc(record: dict[str, Any], position: int, path: str | Path) -> Doc:
    """One record as a `Doc`; a title, text or alias that is not a string is an error."""
    aliases = record.get("aliases", [])
    fields = {"title": record["title"], "text": record["text"]}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise GuidanceError(f"{path}: record {position} has a {name} of type "
                                f"{type(value).__name__}; expected a string")
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise GuidanceError(f"{path}: record {position} ({record['title']!r}) has aliases "
                            f"{aliases!r:.60}; expected a list of strings")
    return Doc(record["title"], tuple(aliases), record["text"])


class Docstore:
    """Title/alias lookup, fuzzy fallback and BM25 ranking over a list of `Doc`s."""

    def __init__(self, docs: list[Doc], sentences: int = 5, fuzzy_cutoff: float = 88.0,
                 similar: int = 5) -> None:
        if not docs:
            raise GuidanceError("a docstore needs at least one document; found none")
        self.docs = docs
        self.sentences = sentences
        self.fuzzy_cutoff = fuzzy_cutoff
        self.similar = similar
        self._keys: dict[str, int] = {}
        for position, doc in enumerate(docs):
            for key in (doc.title, *doc.aliases):
                self._keys.setdefault(normalize_key(key), position)

    @staticmethod
    def load(path: str | Path, **options: Any) -> Docstore:
        """Read a JSON list of `{"title", "aliases", "text"}` records (`aliases` optional)."""
        data = records(read_json(path, "a docstore"), path, ("title", "text"))
        if not data:
            raise GuidanceError(f"{path}: a docstore needs at least one document; found none")
        return Docstore([_doc(record, position, path) for position, record in enumerate(data)],
                        **options)

    def lookup(self, query: str) -> Doc | None:
        """The document whose title or alias is the query, or a close fuzzy match of one."""
        key = normalize_key(query)
        if key in self._keys:
            return self.docs[self._keys[key]]
        from rapidfuzz import fuzz, process

        best = process.extractOne(key, list(self._keys), scorer=fuzz.WRatio,
                                  score_cutoff=self.fuzzy_cutoff)
        # WRatio scores a title found inside a longer query highly ("everest height");
        # a short key inside a long query is too weak a signal, so it must cover half of it.
        if best is not None and len(best[0]) * 2 >= len(key):
            return self.docs[self._keys[best[0]]]
        return None

    def rank(self, query: str, k: int = 1) -> list[tuple[Doc, float]]:
        """BM25 over title, aliases and passage; documents sharing no term are left out."""
        import bm25s

        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        results, scores = self._bm25.retrieve(tokens, k=min(k, len(self.docs)),
                                              show_progress=False)
        return [(self.docs[int(i)], float(s)) for i, s in zip(results[0], scores[0], strict=True)
                if s > 0]

    def similar_titles(self, query: str) -> list[str]:
        from rapidfuzz import fuzz, process

        titles = [doc.title for doc in self.docs]
        matches = process.extract(normalize_key(query), titles, scorer=fuzz.WRatio,
                                  processor=normalize_key, limit=self.similar)
        return [title for title, _, _ in matches]

    def search(self, query: str) -> str:
        """The first sentences of the best passage for `query`, or a 'Could not find' reply."""
        query = str(query).strip()
        doc = self.lookup(query)
        if doc is None:
            ranked = self.rank(query)
            doc = ranked[0][0] if ranked else None
        if doc is None:
            return f"Could not find [{query}]. Similar: [{', '.join(self.similar_titles(query))}]"
        return first_sentences(doc.text, self.sentences)

    @cached_property
    def _bm25(self) -> Any:
        import bm25s

        corpus = [" ".join((doc.title, *doc.aliases, doc.text)) for doc in self.docs]
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False),
                        show_progress=False)
        return retriever
