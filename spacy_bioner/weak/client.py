"""HTTP clients for PubTator3 annotations and PubMed abstracts + MeSH indexing (E-utilities).

``PubTatorClient.fetch_annotations(pmids)`` and ``EUtilsClient.fetch(pmids)`` return a
:class:`FetchResult` in which every PMID asked for is either fetched or listed as failed with a
reason. Requests go out in batches of at most 100 PMIDs, through a thread-safe rate limiter
(3 requests/s, 10/s with an NCBI API key), and are retried with capped exponential backoff and
jitter on HTTP 429 (honouring Retry-After), 5xx, connection errors and timeouts (urllib3's
``Retry`` on the session's ``HTTPAdapter``) and on truncated or malformed bodies (here). PMIDs
missing from an answer are asked for again in smaller batches. Results go to an optional
:class:`~spacy_bioner.weak.cache.PmidCache`, batch by batch, so an interrupted run resumes where
it stopped.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Set, Tuple, Union

import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .. import __version__
from ..corpus.document import CorpusFormatError, Document, Mention, Relation
from ..corpus.pubtator import parse_pubtator
from .cache import PmidCache

logger = logging.getLogger(__name__)

PUBTATOR3_URL = "https://www.ncbi.nlm.nih.gov/research/pubtator3-api"
EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
MAX_BATCH_SIZE = 100
_PMID_RE = re.compile(r"[1-9][0-9]{0,9}")
_TITLE_LINE = re.compile(r"[^\t|]+\|t\|")
_RETRY_STATUS = {408, 429} | set(range(500, 600))

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class FetchError(Exception):
    """A batch could not be fetched; ``reason`` says why (it becomes each PMID's failure reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Retryable(Exception):
    """A request failed in a way that urllib3 cannot see but a new request may mend (a body cut
    short or malformed); ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimiter:
    """Spaces calls to :meth:`acquire` at least ``1 / rate`` seconds apart; thread-safe.

    An interval limiter (a token bucket holding one token): NCBI asks for at most N requests in
    any second, and calls that are 1/N s apart never exceed that, whatever the burst pattern.
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for the next free slot; return the clock time at which it was granted."""
        with self._lock:
            now = self._clock()
            if self._next > now:
                self._sleep(self._next - now)
                now = max(self._clock(), self._next)
            self._next = now + self.interval
            return now


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before asking again.

    Attempt ``k`` (0-based) that fails waits ``min(backoff_max, backoff_base * 2**k)``, of which
    a random share up to ``jitter`` is taken off, unless the server sent Retry-After (honoured up
    to ``retry_after_max`` seconds). A batch is tried ``max_retries + 1`` times. A PMID absent
    from an otherwise good answer is asked for again, alone, ``absent_retries`` more times.
    """

    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    jitter: float = 0.5
    retry_after_max: float = 120.0
    absent_retries: int = 1

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.absent_retries < 0:
            raise ValueError("max_retries and absent_retries must be >= 0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter}")
        if self.backoff_base < 0 or self.backoff_max < 0 or self.retry_after_max < 0:
            raise ValueError("backoff_base, backoff_max and retry_after_max must be >= 0")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        raw = min(self.backoff_max, self.backoff_base * (2.0 ** attempt))
        return raw * (1.0 - self.jitter * rng.random())

    def delay(self, attempt: int, retry_after: Optional[float], rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_max)
        return self.backoff(attempt, rng)


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _ClientRetry(Retry):
    """urllib3's Retry deciding *what* is retried (HTTP 408/429/5xx, connection errors, read
    timeouts, GETs only), the client deciding *how long* to wait (:class:`RetryPolicy`, with its
    jitter and Retry-After cap, through the client's ``sleep``) and spacing every retry by the
    rate limiter."""

    client: Optional["_BatchClient"] = None

    def new(self, **kw: Any) -> "_ClientRetry":
        retry = super().new(**kw)
        retry.client = self.client
        return retry

    def sleep(self, response: Optional[BaseHTTPResponse] = None) -> None:
        assert self.client is not None, "a _ClientRetry belongs to a client"
        error = self.history[-1].error if self.history else None
        retry_after = None if response is None else parse_retry_after(response.headers.get("Retry-After"))
        reason = f"HTTP {response.status}" if response is not None else f"{type(error).__name__}: {error}"
        self.client._pause(self.client._sent - 1, retry_after, self.client._name, reason)
        self.client._before_request()


@dataclass(frozen=True)
class ArticleMeshIndexing:
    """The MeSH indexing of one PubMed record (all ids are MeSH unique ids, in record order); the
    indexing of many PMIDs, as the knowledge base reads it, is :class:`spacy_bioner.vocabularies.MeshIndexing`."""

    descriptors: Tuple[str, ...] = ()  # MeshHeading/DescriptorName/@UI
    major: Tuple[str, ...] = ()  # descriptors marked major topic (on the descriptor or a qualifier)
    substances: Tuple[str, ...] = ()  # ChemicalList/Chemical/NameOfSubstance/@UI (D or C ids)
    supplementary: Tuple[str, ...] = ()  # SupplMeshList/SupplMeshName/@UI

    @property
    def ids(self) -> frozenset:
        """Every MeSH id the record is indexed with."""
        return frozenset(self.descriptors + self.substances + self.supplementary)

    def to_json(self) -> Dict[str, List[str]]:
        return {k: list(getattr(self, k)) for k in ("descriptors", "major", "substances", "supplementary")}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ArticleMeshIndexing":
        return cls(**{k: tuple(data[k]) for k in ("descriptors", "major", "substances", "supplementary")})


@dataclass
class FetchResult:
    """What a fetch produced. Every unique PMID asked for is in exactly one of
    ``documents`` (fetched or cached) or ``failed`` (PMID -> reason)."""

    requested: List[str] = field(default_factory=list)  # unique PMIDs, in the order asked
    documents: Dict[str, Document] = field(default_factory=dict)
    mesh: Dict[str, ArticleMeshIndexing] = field(default_factory=dict)  # EUtilsClient only
    failed: Dict[str, str] = field(default_factory=dict)
    duplicates: List[str] = field(default_factory=list)  # PMIDs asked for more than once
    from_cache: Set[str] = field(default_factory=set)
    n_requests: int = 0  # HTTP requests sent, retries included

    @property
    def fetched(self) -> List[str]:
        return [p for p in self.requested if p in self.documents]

    def summary(self) -> str:
        return (
            f"{len(self.requested)} PMIDs: {len(self.documents)} fetched "
            f"({len(self.from_cache)} from cache), {len(self.failed)} failed, "
            f"{len(self.duplicates)} duplicated in the request; {self.n_requests} HTTP requests"
        )


def dedupe_pmids(pmids: Iterable[Union[str, int]]) -> Tuple[List[str], List[str]]:
    """Unique PMIDs (as stripped strings, first-seen order) and those repeated (each once)."""
    seen: Set[str] = set()
    unique: List[str] = []
    repeated: Dict[str, None] = {}
    for raw in pmids:
        pmid = str(raw).strip()
        if pmid in seen:
            repeated[pmid] = None
        else:
            seen.add(pmid)
            unique.append(pmid)
    return unique, list(repeated)


class _BatchClient:
    """Shared machinery: batching, rate limit, retries, partial answers, cache, bookkeeping.

    The session (a given one too) gets an ``HTTPAdapter`` with :class:`_ClientRetry` mounted for
    the service's URL."""

    kind = ""  # cache namespace
    service = ""  # name used in messages
    path = ""  # endpoint path under base_url

    def __init__(
        self,
        base_url: str,
        *,
        cache: Union[PmidCache, str, Path, None] = None,
        batch_size: int = MAX_BATCH_SIZE,
        rate: float = 3.0,
        timeout: Union[float, Tuple[float, float]] = (10.0, 60.0),
        retry: RetryPolicy = RetryPolicy(),
        session: Optional[requests.Session] = None,
        user_agent: Optional[str] = None,
        limiter: Optional[RateLimiter] = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rng: Optional[random.Random] = None,
        progress: bool = False,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH_SIZE}, got {batch_size}")
        self.url = base_url.rstrip("/") + self.path
        self.batch_size = batch_size
        self.timeout = timeout
        self.retry = retry
        self.limiter = limiter or RateLimiter(rate, clock=clock, sleep=sleep)
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.progress = progress
        self._owned = (isinstance(cache, (str, Path)), session is None)  # what close() closes
        self.cache = PmidCache(cache) if isinstance(cache, (str, Path)) else cache
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent or (
            f"spacy_bioner/{__version__} python-requests/{requests.__version__}"
        )
        self._transport_retry = _ClientRetry(
            total=retry.max_retries, status_forcelist=_RETRY_STATUS, allowed_methods={"GET"},
            respect_retry_after_header=True, raise_on_status=False, raise_on_redirect=False,
        )  # fmt: skip
        self._transport_retry.client = self
        self._adapter = HTTPAdapter(max_retries=self._transport_retry)
        self.session.mount(self.url, self._adapter)
        self._sent = 0
        self._name = ""

    # -- to be provided by subclasses --------------------------------------------------------
    def _params(self, batch: List[str]) -> Dict[str, str]:
        raise NotImplementedError

    def _parse(self, body: bytes, name: str) -> Dict[str, Any]:
        """Records by PMID from a 200 body; raise ValueError when the body is malformed."""
        raise NotImplementedError

    def _to_json(self, record: Any) -> Any:
        raise NotImplementedError

    def _from_json(self, pmid: str, data: Any, source: str) -> Any:
        raise NotImplementedError

    def _store(self, result: FetchResult, pmid: str, record: Any) -> None:
        raise NotImplementedError

    # -- the fetch loop ------------------------------------------------------------------------
    def _fetch(self, pmids: Iterable[Union[str, int]]) -> FetchResult:
        unique, duplicates = dedupe_pmids(pmids)
        result = FetchResult(requested=unique, duplicates=duplicates)
        todo: List[str] = []
        for pmid in unique:
            if _PMID_RE.fullmatch(pmid):
                todo.append(pmid)
            else:
                result.failed[pmid] = f"{pmid!r} is not a PubMed id (expected digits, no leading 0)"
        todo = self._load_cached(todo, result)
        bar = tqdm(total=len(unique), desc=self.service, unit="pmid", disable=not self.progress)
        bar.update(len(unique) - len(todo))
        queue: Deque[List[str]] = deque(
            todo[i : i + self.batch_size] for i in range(0, len(todo), self.batch_size)
        )
        absent: Counter = Counter()
        try:
            while queue:
                batch = queue.popleft()
                try:
                    records = self._request(batch, result)
                except FetchError as err:
                    for pmid in batch:
                        result.failed[pmid] = err.reason
                    bar.update(len(batch))
                    continue
                wanted = set(batch)
                got = {p: r for p, r in records.items() if p in wanted}
                unasked = sorted(set(records) - wanted)
                if unasked:
                    logger.warning("%s answered PMIDs not asked for: %s", self.service, unasked[:10])
                if got:
                    if self.cache is not None:
                        self.cache.put_many(self.kind, {p: self._to_json(r) for p, r in got.items()})
                    for pmid, record in got.items():
                        self._store(result, pmid, record)
                    bar.update(len(got))
                missing = [p for p in batch if p not in got]
                if not missing:
                    continue
                if len(batch) == 1:
                    pmid = batch[0]
                    absent[pmid] += 1
                    if absent[pmid] > self.retry.absent_retries:
                        result.failed[pmid] = (
                            f"absent from the {self.service} answer when asked alone "
                            f"({absent[pmid]} times)"
                        )
                        bar.update(1)
                    else:
                        queue.append([pmid])
                elif got:  # a partial answer: ask again for the rest, in one smaller batch
                    queue.append(missing)
                else:  # nothing answered: split, so that one bad PMID cannot sink the others
                    half = len(batch) // 2
                    queue.extend([batch[:half], batch[half:]])
        finally:
            bar.close()
        return self._finish(result)

    def _load_cached(self, pmids: List[str], result: FetchResult) -> List[str]:
        """Fill ``result`` from the cache; return the PMIDs still to fetch."""
        if self.cache is None or not pmids:
            return pmids
        source = f"{self.cache.path}#{self.kind}"
        todo = []
        cached = self.cache.get_many(self.kind, pmids)
        for pmid in pmids:
            if pmid not in cached:
                todo.append(pmid)
                continue
            try:
                record = self._from_json(pmid, cached[pmid], f"{source}:{pmid}")
            except (KeyError, TypeError, ValueError) as err:
                logger.warning("%s: unreadable cached %s record of PMID %s (%r); fetching it again",
                               self.cache.path, self.kind, pmid, err)
                todo.append(pmid)
                continue
            self._store(result, pmid, record)
            result.from_cache.add(pmid)
        return todo

    def _finish(self, result: FetchResult) -> FetchResult:
        order = {p: i for i, p in enumerate(result.requested)}
        result.documents = dict(sorted(result.documents.items(), key=lambda kv: order[kv[0]]))
        result.mesh = dict(sorted(result.mesh.items(), key=lambda kv: order[kv[0]]))
        result.failed = dict(sorted(result.failed.items(), key=lambda kv: order[kv[0]]))
        done, failed = set(result.documents), set(result.failed)
        if done & failed or (done | failed) != set(result.requested):
            raise RuntimeError(  # an internal bug: never hand back a silently incomplete result
                f"{self.service}: bookkeeping error, {len(done & failed)} PMIDs both fetched and "
                f"failed, {len(set(result.requested) - done - failed)} unaccounted for"
            )
        return result

    # -- one batch, with retries ---------------------------------------------------------------
    def _request(self, batch: List[str], result: FetchResult) -> Dict[str, Any]:
        """The records of one batch. HTTP 408/429/5xx, connection errors and timeouts are retried
        by urllib3 (:class:`_ClientRetry` on the session's adapter); a truncated or malformed
        body, which urllib3 never sees, is retried here. Both draw on one budget of
        ``max_retries + 1`` requests per batch."""
        name = f"{self.service} answer for PMIDs {batch[0]}..{batch[-1]} ({len(batch)})"
        attempts = self.retry.max_retries + 1
        self._sent = 0
        try:
            while True:
                self._adapter.max_retries = self._transport_retry.new(
                    total=attempts - self._sent - 1, history=())
                self._before_request()
                try:
                    return self._attempt(batch, name, attempts)
                except _Retryable as err:
                    if self._sent >= attempts:
                        raise FetchError(f"{err.reason} (gave up after {attempts} attempts)") from None
                    self._pause(self._sent - 1, None, name, err.reason)
        finally:
            result.n_requests += self._sent

    def _before_request(self) -> None:
        """Every request, retries included: wait for the rate limiter, count it."""
        self.limiter.acquire()
        self._sent += 1

    def _pause(self, attempt: int, retry_after: Optional[float], name: str, reason: str) -> None:
        """Wait after failed attempt ``attempt`` (0-based) of a batch, before the next request."""
        delay = self.retry.delay(attempt, retry_after, self.rng)
        logger.warning("%s: %s; retrying in %.1f s", name, reason, delay)
        self.sleep(delay)

    def _attempt(self, batch: List[str], name: str, attempts: int) -> Dict[str, Any]:
        gave_up = f"(gave up after {attempts} attempts)"
        self._name = name
        try:
            resp = self.session.get(self.url, params=self._params(batch), timeout=self.timeout)
        except requests.ConnectionError as err:
            if isinstance(err.args[0] if err.args else None, MaxRetryError):  # urllib3 gave up
                raise FetchError(f"connection failed or timed out ({type(err.args[0].reason).__name__}: "
                                 f"{err.args[0].reason}) {gave_up}") from None
            raise _Retryable(f"connection failed or body cut short ({type(err).__name__}: {err})") from None
        except (requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as err:
            raise _Retryable(f"timed out, or body cut short ({type(err).__name__}: {err})") from None
        except requests.RequestException as err:  # bad URL, too many redirects: retrying won't help
            raise FetchError(f"request to {self.url} failed: {type(err).__name__}: {err}") from None
        status = resp.status_code
        if status in _RETRY_STATUS:  # what urllib3 retried until the budget ran out
            raise FetchError(f"HTTP {status} {gave_up}")
        if status != 200:
            raise FetchError(f"HTTP {status} from {self.url}: {resp.text[:200]!r}")
        body = resp.content
        declared = resp.headers.get("Content-Length")
        encoding = resp.headers.get("Content-Encoding", "identity").lower()
        if declared is not None and encoding == "identity" and declared.strip().isdigit():
            if int(declared) != len(body):
                raise _Retryable(f"truncated body: Content-Length {declared}, received {len(body)} bytes")
        try:
            return self._parse(body, name)
        except ValueError as err:
            raise _Retryable(f"malformed body: {err}") from None

    def close(self) -> None:
        """Close the cache and session this client opened (not those it was given)."""
        owns_cache, owns_session = self._owned
        if owns_session:
            self.session.close()
        if owns_cache and self.cache is not None:
            self.cache.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- PubTator3 -------------------------------------------------------------------------------------
def _document_to_json(doc: Document) -> Dict[str, Any]:
    return {
        "title": doc.title,
        "abstract": doc.abstract,
        "mentions": [[m.start, m.end, m.text, m.type, list(m.ids), list(m.extra)] for m in doc.mentions],
        "relations": [[r.type, list(r.args)] for r in doc.relations],
    }


def _document_from_json(pmid: str, data: Mapping[str, Any], source: str) -> Document:
    mentions = [
        Mention(int(s), int(e), t, ty, tuple(ids), tuple(ex)) for s, e, t, ty, ids, ex in data["mentions"]
    ]
    relations = [Relation(t, tuple(args)) for t, args in data["relations"]]
    return Document(pmid, data["title"], data["abstract"], mentions, relations, source)


class PubTatorClient(_BatchClient):
    """PubTator3 API: title, abstract and automatic annotations (PubTator format) by PMID.

    Example (needs internet)::

        with PubTatorClient(cache="weak/http_cache.sqlite") as client:
            result = client.fetch_annotations(["3973306", "11752354"])
        result.documents["3973306"].mentions, result.failed
    """

    kind = "pubtator3"
    service = "PubTator3"
    path = "/publications/export/pubtator"

    def __init__(self, base_url: str = PUBTATOR3_URL, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)

    def fetch_annotations(self, pmids: Iterable[Union[str, int]]) -> FetchResult:
        """Documents (with PubTator3's mentions) by PMID; see :class:`FetchResult`."""
        return self._fetch(pmids)

    def _params(self, batch: List[str]) -> Dict[str, str]:
        return {"pmids": ",".join(batch)}

    def _parse(self, body: bytes, name: str) -> Dict[str, Document]:
        """Documents by PMID. When some records are malformed, the others are kept and the bad
        ones count as absent (asked for again, alone); a body with no good record is malformed."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{name}: not UTF-8 ({err})") from None
        if not text.strip():
            return {}  # none of the PMIDs is known to PubTator3
        try:
            docs = parse_pubtator(text, name=name)
        except CorpusFormatError as err:
            docs = self._salvage(text, name)
            if not docs:
                raise ValueError(str(err)) from None
            logger.warning("%s: %s; kept %d readable records, asking again for the others",
                           name, err, len(docs))
        records: Dict[str, Document] = {}
        for doc in docs:
            if doc.pmid in records:
                logger.warning("%s: PMID %s appears twice; keeping the first", name, doc.pmid)
                continue
            records[doc.pmid] = doc
        return records

    @staticmethod
    def _salvage(text: str, name: str) -> List[Document]:
        """Parse record by record (a record starts at a ``PMID|t|`` line); skip the bad ones."""
        chunks: List[List[str]] = [[]]
        for line in text.split("\n"):
            if _TITLE_LINE.match(line) and any(chunks[-1]):
                chunks.append([])
            chunks[-1].append(line)
        docs: List[Document] = []
        for chunk in chunks:
            if any(line.strip() for line in chunk):
                try:
                    docs.extend(parse_pubtator("\n".join(chunk), name=name))
                except CorpusFormatError:
                    continue
        return docs

    def _to_json(self, record: Document) -> Dict[str, Any]:
        return _document_to_json(record)

    def _from_json(self, pmid: str, data: Any, source: str) -> Document:
        return _document_from_json(pmid, data, source)

    def _store(self, result: FetchResult, pmid: str, record: Document) -> None:
        result.documents[pmid] = record


# -- E-utilities efetch (PubMed XML) ------------------------------------------------------------
def _text(elem: Optional[ET.Element]) -> str:
    """The text of an element, inline markup (<i>, <sup>, ...) included; newlines become spaces."""
    if elem is None:
        return ""
    text = "".join(elem.itertext())
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " ").strip()


def _abstract(parent: Optional[ET.Element], section_labels: bool) -> str:
    """AbstractText sections joined by a space, each as ``LABEL: text`` as PubTator writes them."""
    if parent is None:
        return ""
    parts = []
    for section in parent.findall("Abstract/AbstractText"):
        text = _text(section)
        label = (section.get("Label") or "").strip()
        if section_labels and label:
            text = f"{label}: {text}" if text else f"{label}:"
        if text:
            parts.append(text)
    return " ".join(parts)


def _mesh(citation: Optional[ET.Element]) -> ArticleMeshIndexing:
    if citation is None:
        return ArticleMeshIndexing()
    descriptors, major = [], []
    for heading in citation.findall("MeshHeadingList/MeshHeading"):
        desc = heading.find("DescriptorName")
        ui = desc.get("UI") if desc is not None else None
        if not ui:
            continue
        descriptors.append(ui)
        flags = [desc.get("MajorTopicYN")] + [q.get("MajorTopicYN") for q in heading.findall("QualifierName")]
        if "Y" in flags:
            major.append(ui)
    substances = [e.get("UI") for e in citation.findall("ChemicalList/Chemical/NameOfSubstance")]
    suppl = [e.get("UI") for e in citation.findall("SupplMeshList/SupplMeshName")]
    return ArticleMeshIndexing(tuple(descriptors), tuple(major), tuple(u for u in substances if u),
                        tuple(u for u in suppl if u))


def parse_pubmed_xml(body: Union[bytes, str], *, name: str = "<string>",
                     section_labels: bool = True) -> Dict[str, Tuple[Document, ArticleMeshIndexing]]:
    """``{pmid: (Document(title, abstract), ArticleMeshIndexing)}`` from an efetch PubmedArticleSet.

    Raises ValueError (naming ``name`` and the record) when the XML is unparseable, its root is
    not PubmedArticleSet (efetch error pages), or an article has no PMID.
    """
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise ValueError(f"{name}: unparseable XML ({err})") from None
    if root.tag != "PubmedArticleSet":
        raise ValueError(f"{name}: root element is <{root.tag}>, expected <PubmedArticleSet>")
    records: Dict[str, Tuple[Document, ArticleMeshIndexing]] = {}
    for i, article in enumerate(root, start=1):
        if article.tag == "PubmedArticle":
            citation = article.find("MedlineCitation")
            pmid = _text(citation.find("PMID")) if citation is not None else ""
            art = citation.find("Article") if citation is not None else None
            title = _text(art.find("ArticleTitle")) if art is not None else ""
            abstract = _abstract(art, section_labels)
            mesh = _mesh(citation)
        elif article.tag == "PubmedBookArticle":
            book = article.find("BookDocument")
            pmid = _text(book.find("PMID")) if book is not None else ""
            title = ""
            if book is not None:
                title = _text(book.find("ArticleTitle")) or _text(book.find("Book/BookTitle"))
            abstract = _abstract(book, section_labels)
            mesh = ArticleMeshIndexing()
        else:
            continue  # e.g. DeleteCitation
        if not pmid:
            raise ValueError(f"{name}: <{article.tag}> number {i} has no PMID")
        if pmid in records:
            logger.warning("%s: PMID %s appears twice; keeping the first", name, pmid)
            continue
        records[pmid] = (Document(pmid, title, abstract, [], [], f"{name}#{pmid}"), mesh)
    return records


class EUtilsClient(_BatchClient):
    """NCBI E-utilities efetch (db=pubmed, XML): title + abstract and MeSH indexing by PMID.

    One request gives both, so :meth:`fetch` and :meth:`fetch_abstracts`
    return the same :class:`FetchResult` with ``documents`` (no mentions) and ``mesh`` filled.
    With an ``api_key`` the default rate is 10 requests/s instead of 3.
    """

    kind = "pubmed"
    service = "PubMed efetch"
    path = "/efetch.fcgi"

    def __init__(
        self,
        base_url: str = EUTILS_URL,
        *,
        api_key: Optional[str] = None,
        email: Optional[str] = None,
        tool: str = "spacy_bioner",
        rate: Optional[float] = None,
        section_labels: bool = True,
        **kwargs: Any,
    ) -> None:
        if rate is None:
            rate = 10.0 if api_key else 3.0
        super().__init__(base_url, rate=rate, **kwargs)
        self.api_key = api_key
        self.email = email
        self.tool = tool
        self.section_labels = section_labels

    def fetch(self, pmids: Iterable[Union[str, int]]) -> FetchResult:
        """Abstracts (``documents``) and MeSH indexing (``mesh``) by PMID."""
        return self._fetch(pmids)

    def fetch_abstracts(self, pmids: Iterable[Union[str, int]]) -> FetchResult:
        return self._fetch(pmids)

    def _params(self, batch: List[str]) -> Dict[str, str]:
        params = {"db": "pubmed", "id": ",".join(batch), "retmode": "xml", "tool": self.tool}
        if self.email:
            params["email"] = self.email
        if self.api_key:
            params["api_key"] = self.api_key
        return params

    def _parse(self, body: bytes, name: str) -> Dict[str, Tuple[Document, ArticleMeshIndexing]]:
        return parse_pubmed_xml(body, name=name, section_labels=self.section_labels)

    def _to_json(self, record: Tuple[Document, ArticleMeshIndexing]) -> Dict[str, Any]:
        doc, mesh = record
        return {"title": doc.title, "abstract": doc.abstract, "mesh": mesh.to_json()}

    def _from_json(self, pmid: str, data: Any, source: str) -> Tuple[Document, ArticleMeshIndexing]:
        return (Document(pmid, data["title"], data["abstract"], [], [], source),
                ArticleMeshIndexing.from_json(data["mesh"]))

    def _store(self, result: FetchResult, pmid: str, record: Tuple[Document, ArticleMeshIndexing]) -> None:
        result.documents[pmid], result.mesh[pmid] = record
