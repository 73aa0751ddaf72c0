"""A fault-injecting proxy in front of the real llama.cpp server (`proxy`) or the real vLLM
server (`vllm_proxy`); both servers come from tests/conftest.py, started once per test session.

`proxy` sits between a client and that server: it records every request (path, query, headers,
JSON body) and plays scripted faults first::

    proxy.fault("status", status=429, headers={"Retry-After": "0"}); proxy.fault("cut", after=3)

`two_threads` runs a test on two torch intra-op threads (the model fixtures set one);
`close_probe` holds the default model's next pass after a test's stop until the close reaches
the session.
"""

from __future__ import annotations

import http.client
import itertools
import json
import select
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

#: Request fields that carry a constraint (llama.cpp's and vLLM's), removed by a "strip" fault.
_CONSTRAINT_FIELDS = frozenset({"grammar", "json_schema", "structured_outputs", "response_format",
                                "guided_regex", "guided_json", "guided_choice", "guided_grammar"})


@dataclass
class Fault:
    """What the proxy does to one request: "status" (answer `status` with `body`), "cut"
    (forward, then drop the connection after `after` events), "malformed" (replace event
    `after` with broken JSON), "slow" (wait `delay` seconds first; a client that hangs up
    meanwhile, as one that timed out does, is not forwarded), "strip" (forward without the
    constraint fields, as a server that ignores them would)."""

    kind: str
    status: int = 0
    after: int = 0
    delay: float = 0.0
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]


class Proxy:
    """A loopback HTTP proxy to `upstream` (host, port) with scripted faults (see module doc).

    `rewrite` maps an incoming path to the upstream path (Azure's deployment paths)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.rewrite: dict[str, str] = {}
        self.closed = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                proxy.handle(self, self.rfile.read(length))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fault(self, kind: str, **kwargs: Any) -> None:
        """Queue a fault for the next request without one (see `Fault`)."""
        self.faults.append(Fault(kind, **kwargs))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.closed.set()  # a "slow" request still waiting gives up without forwarding
        self.server.shutdown()
        self.server.server_close()

    def handle(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        url = urllib.parse.urlsplit(h.path)
        body = json.loads(raw) if raw else {}
        if h.command != "POST":  # only API calls are recorded and faulted (not GET /props)
            self.forward(h, url.path, raw, None)
            return
        self.requests.append(Recorded(h.command, url.path, urllib.parse.parse_qs(url.query),
                                      {k.lower(): v for k, v in h.headers.items()}, body))
        fault = self.faults.pop(0) if self.faults else None
        if fault is not None and fault.kind == "slow" and not self.wait_for_client(h, fault):
            return  # the client gave up (a timeout): the server never sees this request
        if fault is not None and fault.kind == "status":
            data = json.dumps(fault.body or {"error": {"message": f"injected {fault.status}"}})
            h.send_response(fault.status)
            for key, value in {"Content-Type": "application/json", **fault.headers}.items():
                h.send_header(key, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data.encode())
            return
        if fault is not None and fault.kind == "strip":
            raw = json.dumps({k: v for k, v in body.items()
                              if k not in _CONSTRAINT_FIELDS}).encode()
        self.forward(h, self.rewrite.get(url.path, url.path), raw, fault)

    def wait_for_client(self, h: BaseHTTPRequestHandler, fault: Fault) -> bool:
        """Wait `fault.delay` seconds; False as soon as the client hangs up or the proxy closes
        (an abandoned request must not reach the one-slot server during a later request)."""
        deadline = time.monotonic() + fault.delay
        while (left := deadline - time.monotonic()) > 0:
            if self.closed.is_set():
                return False
            readable, _, _ = select.select([h.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if h.connection.recv(1, socket.MSG_PEEK) == b"":
                        h.close_connection = True
                        return False
                except OSError:
                    h.close_connection = True
                    return False
                time.sleep(min(left, 0.05))  # unexpected bytes: keep waiting, do not spin
        return not self.closed.is_set()

    def forward(self, h: BaseHTTPRequestHandler, path: str, raw: bytes,
                fault: Fault | None) -> None:
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        headers = {"Content-Type": "application/json"}
        conn.request(h.command, path, body=raw or None, headers=headers)
        response = conn.getresponse()
        h.send_response(response.status)
        h.send_header("Content-Type", response.getheader("Content-Type") or "text/plain")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        events = 0
        try:
            while line := response.readline():
                if line.startswith(b"data: "):
                    events += 1
                    if fault is not None and fault.kind == "cut" and events > fault.after:
                        h.wfile.flush()
                        h.connection.shutdown(socket.SHUT_RDWR)  # no final chunk: a cut
                        return
                    if fault is not None and fault.kind == "malformed" and events == fault.after:
                        line = b'data: {"choices": [{"text": "oops\n'
                h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        finally:
            conn.close()


@pytest.fixture
def proxy(llamacpp_server: Any) -> Iterator[Proxy]:
    port = int(llamacpp_server.port)
    p = Proxy(("127.0.0.1", port))
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def vllm_proxy(vllm_server: Any) -> Iterator[Proxy]:
    p = Proxy(("127.0.0.1", int(vllm_server.port)))
    try:
        yield p
    finally:
        p.close()


COUNT_TEMPLATE = ("The capital of France is{{gen 'city' stop='.' max_tokens=8 logprobs=2}}"
                  ". Count: 1, 2, 3,{{gen 'n' stop_regex='[5-6],' save_stop_text=True "
                  "max_tokens=30}}")


def run_count_template(llm: Any, proxy: Proxy) -> tuple[Any, dict[str, Any]]:
    """Stream, then run, a two-gen template with a stop string, logprobs and a client-side
    stop_regex on a real server; check what every server must give; (the program, the body of
    the run's first request) for the server's own checks."""
    import guidance_engine as guidance

    program = guidance(COUNT_TEMPLATE, llm=llm, log=True)
    chunks = [p.text for p in program(stream=True)]
    out = program(log=True)
    assert out["city"] == " Paris"
    assert (out["n"], out["n_stop_text"]) == (" 4, ", "5,")
    assert chunks[-1] == str(out) == "The capital of France is Paris. Count: 1, 2, 3, 4, "
    assert all(b.startswith(a) for a, b in itertools.pairwise(chunks))  # no take-backs
    assert [lp for tok in out["city_logprobs"] for lp in tok][:1] == [" Paris"]
    first = proxy.requests[-2].body
    assert (first["prompt"], first["stop"], first["logprobs"], first["stream"]) == (
        "The capital of France is", ["."], 2, True)
    return out, first


@pytest.fixture
def two_threads() -> Iterator[None]:
    """Two torch intra-op threads for the test; the previous count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@dataclass
class CloseProbe:
    """The sessions the default model opened, and, once `stopping` is set, the one pass held
    until the latest session's cancel flag (what `close()` sets) is up: `held` is [True] when
    the flag came within 10 s, [] when no pass ran after `stopping`."""

    sessions: list[Any] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    held: list[bool] = field(default_factory=list)


@pytest.fixture
def close_probe(smol_llm: Any, monkeypatch: pytest.MonkeyPatch) -> CloseProbe:
    """Wraps `smol_llm.session` and `.forward` for the test (`monkeypatch.undo()` ends it)."""
    probe = CloseProbe()
    real_session, real_forward = smol_llm.session, smol_llm.forward

    def session(asynchronous: bool = False) -> Any:
        probe.sessions.append(real_session(asynchronous))
        return probe.sessions[-1]

    def forward(*args: Any, **kwargs: Any) -> Any:
        logits = real_forward(*args, **kwargs)
        if probe.stopping.is_set() and not probe.held:
            probe.held.append(probe.sessions[-1]._cancel.wait(10))  # private: close() sets it
        return logits

    monkeypatch.setattr(smol_llm, "session", session)
    monkeypatch.setattr(smol_llm, "forward", forward)
    return probe
