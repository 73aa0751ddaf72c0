"""What `select` on a server (`openai_select.py`, `openai_exact.py`) reads of an OpenAI model and
its session, as protocols: those modules then need neither `openai.py` nor the session class,
which import them (`OpenAI` and `OpenAISession` satisfy these)::

    async def score(session: ServerSession, request: SelectRequest) -> ...:
        body = session.llm.body(request, " yes")
"""

from __future__ import annotations

from typing import Any, Protocol

from guidance_engine.llms.base import ChunkCallback, GenRequest, GenResult, SelectRequest
from guidance_engine.llms.capabilities import Capabilities
from guidance_engine.llms.openai_wire import RetryPolicy


class ServerModel(Protocol):
    """The OpenAI-style model behind a session: its settings, client and request bodies."""

    model: str
    api_type: str
    select_method: str
    retry: RetryPolicy
    capabilities: Capabilities

    def client(self, asynchronous: bool = True) -> Any: ...

    def endpoint(self) -> Any: ...

    def body(self, request: GenRequest | SelectRequest, prefix: str = "") -> dict[str, Any]: ...

    async def dialect(self) -> str: ...


class ServerSession(Protocol):
    """One program run's requests to the server (`OpenAISession`)."""

    requests: int

    @property
    def llm(self) -> ServerModel: ...

    def headers(self) -> dict[str, str]: ...

    def server_fields(self) -> dict[str, Any]: ...

    async def gen(self, request: GenRequest, on_chunk: ChunkCallback | None = None) -> GenResult:
        ...
