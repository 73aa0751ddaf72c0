"""LLMCompiler drives the package as a user would: it imports only the package's faces."""

from __future__ import annotations

import ast
from pathlib import Path

import guidance_engine

FACES = {"guidance_engine", "guidance_engine.llms", "guidance_engine.display",
         "guidance_engine.errors"}
PACKAGE = Path(guidance_engine.__file__).parent


def test_llmcompiler_imports_only_the_public_faces() -> None:
    found = []
    for path in sorted((PACKAGE / "llmcompiler").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            inside = module.startswith("guidance_engine")
            if inside and not module.startswith("guidance_engine.llmcompiler") and \
                    module not in FACES:
                found.append(f"{path.name}:{node.lineno} imports {module}")
    assert found == []


def test_what_llmcompiler_needs_is_exported() -> None:
    import guidance_engine.display as display
    import guidance_engine.llms as llms

    for name in ("LLM", "GenStats", "LlamaCppServer", "OpenAI", "PROFILES", "Transformers",
                 "physical_cores", "with_retries"):
        assert name in llms.__all__ and getattr(llms, name) is not None, name
    assert callable(display.in_kernel)
    assert {"Program", "load", "events", "default_llm"} <= set(guidance_engine.__all__)
