"""Display: plain-text and HTML renderings of a program's output (consumes no internals)."""

from guidance_engine.display.jupyter import in_kernel

__all__ = ["in_kernel"]
