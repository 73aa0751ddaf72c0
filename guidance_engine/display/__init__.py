"""Display: plain-text and HTML renderings of a program's output (consumes no internals)."""
