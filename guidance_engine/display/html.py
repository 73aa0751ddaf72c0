"""HTML rendering of a program for Jupyter: produced text, then the template still to run.

    >>> program_html("Hi <b>", "{{x}}", running=False)[46:]
    'Hi &lt;b&gt;<span style="opacity: 0.5">{{x}}</span></pre>'
"""

from __future__ import annotations

from html import escape


def program_html(text: str, remainder: str, running: bool) -> str:
    """The produced `text` as-is, the unexecuted `remainder` greyed, a cursor while running."""
    cursor = '<span style="opacity: 0.5">▌</span>' if running else ""
    rest = f'<span style="opacity: 0.5">{escape(remainder)}</span>' if remainder else ""
    return f'<pre style="white-space: pre-wrap; margin: 0">{escape(text)}{cursor}{rest}</pre>'
