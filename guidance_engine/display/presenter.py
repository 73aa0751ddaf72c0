"""The display layer as the runtime's `Presenter`: text and HTML views of a program, IPython's
display hook, and the live view of a run in a notebook (`jupyter`).

The package root installs it (`use_presenter(DisplayPresenter())`), so programs are shown without
the runtime importing this layer::

    DisplayPresenter().text(program)      # what repr() of a long program shows
"""

from __future__ import annotations

from typing import Any

from guidance_engine.display import jupyter
from guidance_engine.display.html import render_html
from guidance_engine.display.text import render_text
from guidance_engine.display.view import ProgramView


class DisplayPresenter:
    """Renders programs through `ProgramView`; runs live views through `jupyter`."""

    def view(self, program: Any) -> ProgramView:
        """The program's view, built from its run's events (a never-run program waits)."""
        view = ProgramView(program.template, timed=False)
        events = program.view_events()
        if events is None:
            view.offset = 0
            view.status = "waiting"
            view.message = "not run yet"
            return view
        for event in events:
            view.feed(event)
        return view

    def text(self, program: Any) -> str:
        return render_text(self.view(program))

    def html(self, program: Any) -> str:
        return render_html(self.view(program))

    def show(self, program: Any) -> None:
        jupyter.display_program(program, self.view(program))

    def live(self, silent: bool | None, asynchronous: bool) -> bool:
        # an awaited call outside a kernel has no cell to update: it runs without a view
        return jupyter.should_display(silent) and (not asynchronous or jupyter.in_kernel())

    def run_live(self, program: Any, stream: Any) -> Any:
        return jupyter.show_live(program, stream)

    async def run_live_async(self, program: Any, stream: Any) -> Any:
        return await jupyter.show_live_async(program, stream)
