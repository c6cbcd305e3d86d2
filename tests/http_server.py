"""A local stand-in for PubTator3 and PubMed efetch (127.0.0.1 only), with faults on demand.

``FakeNCBI`` serves PubTator records and PubmedArticle XML from dictionaries, logs every
request (with the time of an injectable clock) and, when told, answers the next requests of a
service with a :class:`Fault`: an HTTP error with headers, a slow answer, a malformed or
truncated body, or an answer that leaves some PMIDs out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Deque, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple, Type
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

PUBTATOR_PATH = "/pubtator3-api/publications/export/pubtator"
EFETCH_PATH = "/entrez/eutils/efetch.fcgi"
XML_HEAD = (
    '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
    '1st January 2024//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_240101.dtd">\n'
)
MALFORMED = {
    "pubtator": b"<html><body>Service temporarily unavailable</body></html>\n",
    "efetch": b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID>",
}


@dataclass(frozen=True)
class Fault:
    """How to spoil one answer. The defaults answer normally."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # real seconds to wait before answering
    malformed: bool = False  # a 200 body the client cannot parse
    truncate: bool = False  # declare the full Content-Length, send half the body, hang up
    drop: FrozenSet[str] = frozenset()  # PMIDs left out of the answer


@dataclass(frozen=True)
class Logged:
    service: str  # "pubtator" or "efetch"
    pmids: Tuple[str, ...]
    params: Mapping[str, str]
    headers: Mapping[str, str]
    time: float  # the server clock when the request arrived


class FakeClock:
    """A clock whose ``sleep`` returns at once and moves time forward; thread-safe."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: List[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)


def pubtator_record(pmid: str, title: str, abstract: str,
                    mentions: Sequence[Tuple[int, int, str, str, str]] = (),
                    relations: Sequence[Tuple[str, ...]] = ()) -> str:
    """A PubTator record (``pmid|t|``, ``pmid|a|``, one tab line per mention, then per relation
    such as ``("CID", "D1", "D2")``), newline-ended."""
    lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
    lines += [f"{pmid}\t{s}\t{e}\t{text}\t{typ}\t{ids}" for s, e, text, typ, ids in mentions]
    lines += ["\t".join((pmid, *rel)) for rel in relations]
    return "\n".join(lines) + "\n"


def pubmed_article(pmid: str, title: str, sections: Sequence[Tuple[str, str]] = (),
                   mesh: Sequence[Tuple[str, bool, bool]] = (), substances: Sequence[str] = (),
                   supplementary: Sequence[str] = ()) -> str:
    """A ``<PubmedArticle>``: sections are (Label or "", text); mesh is (UI, major, qualifier-major).

    Texts are inserted verbatim, so they may carry inline markup such as ``<i>..</i>``.
    """
    parts = [f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">'
             f'<PMID Version="1">{pmid}</PMID><Article PubModel="Print">'
             f'<ArticleTitle>{title}</ArticleTitle>']
    if sections:
        parts.append("<Abstract>")
        for label, text in sections:
            attrs = f" Label={quoteattr(label)} NlmCategory={quoteattr(label)}" if label else ""
            parts.append(f"<AbstractText{attrs}>{text}</AbstractText>")
        parts.append("</Abstract>")
    parts.append("</Article>")
    if substances:
        parts.append("<ChemicalList>")
        parts += [f'<Chemical><RegistryNumber>0</RegistryNumber><NameOfSubstance UI="{ui}">x'
                  f"</NameOfSubstance></Chemical>" for ui in substances]
        parts.append("</ChemicalList>")
    if supplementary:
        parts.append("<SupplMeshList>")
        parts += [f'<SupplMeshName Type="Disease" UI="{ui}">x</SupplMeshName>' for ui in supplementary]
        parts.append("</SupplMeshList>")
    if mesh:
        parts.append("<MeshHeadingList>")
        for ui, major, q_major in mesh:
            parts.append(f'<MeshHeading><DescriptorName UI="{ui}" MajorTopicYN="{"Y" if major else "N"}">'
                         f"name of {ui}</DescriptorName><QualifierName UI=\"Q000000\" "
                         f'MajorTopicYN="{"Y" if q_major else "N"}">q</QualifierName></MeshHeading>')
        parts.append("</MeshHeadingList>")
    # A cited PMID elsewhere in the record must not be taken for the record's own PMID.
    parts.append('</MedlineCitation><PubmedData><ReferenceList><Reference><ArticleIdList>'
                 '<ArticleId IdType="pubmed">99999999</ArticleId></ArticleIdList></Reference>'
                 "</ReferenceList></PubmedData></PubmedArticle>")
    return "".join(parts)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers through :meth:`send`."""

    server: "_QuietServer"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes, headers: Optional[Mapping[str, str]] = None,
             truncate: bool = False) -> None:
        """Answer and close: ``truncate`` declares the full Content-Length, sends half the body."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body[: len(body) // 2] if truncate else body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client hung up first
            pass
        self.close_connection = True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: "LocalServer"

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001  (a client hung up)
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 (a free port), served by a thread while used as a context
    manager; a subclass names its :class:`QuietHandler`, which finds the server object as
    ``self.server.owner``."""

    handler: Type[QuietHandler] = QuietHandler

    def __init__(self) -> None:
        self._httpd = _QuietServer(("127.0.0.1", 0), self.handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):  # noqa: ANN204  (the subclass)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(QuietHandler):
    """Answers as PubTator3 or efetch would, or with the next fault."""

    def do_GET(self) -> None:
        fake: FakeNCBI = self.server.owner
        parts = urlsplit(self.path)
        service = {PUBTATOR_PATH: "pubtator", EFETCH_PATH: "efetch"}.get(parts.path)
        if service is None:
            self.send(404, b"no such endpoint", {})
            return
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        ids = params.get("pmids" if service == "pubtator" else "id", "")
        pmids = tuple(p for p in ids.split(",") if p)
        fake._record(Logged(service, pmids, params, dict(self.headers.items()), fake.clock()))
        fault = fake._next_fault(service)
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status != 200:
            self.send(fault.status, b"error", dict(fault.headers))
            return
        if fault.malformed:
            body = MALFORMED[service]
        else:
            body = fake.body(service, [p for p in pmids if p not in fault.drop])
        ctype = "text/plain; charset=utf-8" if service == "pubtator" else "text/xml; charset=UTF-8"
        self.send(200, body, {"Content-Type": ctype, **fault.headers}, truncate=fault.truncate)


class FakeNCBI(LocalServer):
    """The server. Use as a context manager; ``url`` is its root (http://127.0.0.1:PORT)."""

    handler = _Handler

    def __init__(self, pubtator: Mapping[str, str], pubmed: Mapping[str, str],
                 clock: Optional[Callable[[], float]] = None) -> None:
        self.data = {"pubtator": dict(pubtator), "efetch": dict(pubmed)}
        self.clock = clock or time.monotonic
        self.log: List[Logged] = []
        self._faults: Dict[str, Deque[Fault]] = {"pubtator": deque(), "efetch": deque()}
        self._always: Dict[str, Optional[Fault]] = {"pubtator": None, "efetch": None}
        self._lock = threading.Lock()
        super().__init__()

    def fail_next(self, service: str, *faults: Fault) -> None:
        """Answer the next ``len(faults)`` requests of ``service`` with these faults, in order."""
        with self._lock:
            self._faults[service].extend(faults)

    def fail_always(self, service: str, fault: Optional[Fault]) -> None:
        """Answer every request of ``service`` (after the queued faults) with ``fault``; None stops."""
        with self._lock:
            self._always[service] = fault

    def requests(self, service: str) -> List[Logged]:
        with self._lock:
            return [r for r in self.log if r.service == service]

    def _next_fault(self, service: str) -> Fault:
        with self._lock:
            queue = self._faults[service]
            return queue.popleft() if queue else (self._always[service] or Fault())

    def _record(self, entry: Logged) -> None:
        with self._lock:
            self.log.append(entry)

    def body(self, service: str, pmids: Iterable[str]) -> bytes:
        """The normal answer: the records held for the PMIDs (unknown PMIDs are left out)."""
        records = [self.data[service][p] for p in pmids if p in self.data[service]]
        if service == "pubtator":
            return "\n".join(records).encode("utf-8")
        return (XML_HEAD + "<PubmedArticleSet>" + "".join(records) + "</PubmedArticleSet>\n").encode("utf-8")
