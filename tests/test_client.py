"""The PubTator3 and E-utilities clients against a local fake server (127.0.0.1 only)."""

from __future__ import annotations

import gzip
import random
import re
import threading
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape

import pytest
import requests

from spacy_bioner.corpus.document import Mention
from spacy_bioner.corpus.pubtator import parse_pubtator
from spacy_bioner.weak.cache import PmidCache
from spacy_bioner.weak.client import ArticleMeshIndexing as MeshIndexing
from spacy_bioner.weak.client import (
    EUtilsClient,
    PubTatorClient,
    RateLimiter,
    RetryPolicy,
    parse_pubmed_xml,
    parse_retry_after,
)

from http_server import XML_HEAD, FakeClock, FakeNCBI, Fault, pubmed_article, pubtator_record

PMIDS = [str(1000001 + i) for i in range(250)]
NO_JITTER = RetryPolicy(max_retries=2, jitter=0.0)
CID = ("CID", "D001241", "D006261")


pytestmark = pytest.mark.usefixtures("only_localhost")  # conftest.py: 127.0.0.1 only


def synthetic(pmid: str):
    """Title, abstract and mentions (start, end, text, type, id) of a made-up abstract."""
    title = f"Aspirin-induced headache in study {pmid}."
    abstract = f"We gave aspirin to {int(pmid) % 7 + 2} rats; no headache followed."
    off = len(title) + 1
    mentions = [
        (0, 7, "Aspirin", "Chemical", "MESH:D001241"),
        (16, 24, "headache", "Disease", "MESH:D006261"),
        (off + 8, off + 15, "aspirin", "Chemical", "MESH:D001241"),
    ]
    return title, abstract, mentions


def synthetic_xml(pmid: str) -> str:
    title, abstract, _ = synthetic(pmid)
    first, rest = abstract.split(" ", 1)
    sections = [("BACKGROUND", f"<i>{first}</i> {rest}"), ("", "No more.")]
    return pubmed_article(pmid, title, sections, mesh=[("D001241", False, True), ("D006261", False, False)],
                          substances=["D001241"], supplementary=["C000001"])


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def server(clock):
    pubtator = {p: pubtator_record(p, *synthetic(p), relations=[CID]) for p in PMIDS}
    pubmed = {p: synthetic_xml(p) for p in PMIDS}
    with FakeNCBI(pubtator, pubmed, clock=clock) as srv:
        yield srv


def local_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: talk to 127.0.0.1 directly
    return session


def pubtator_client(server, clock, **kwargs):
    kwargs.setdefault("session", local_session())
    kwargs.setdefault("retry", NO_JITTER)
    kwargs.setdefault("timeout", 5.0)
    return PubTatorClient(f"{server.url}/pubtator3-api", clock=clock, sleep=clock.sleep, **kwargs)


def eutils_client(server, clock, **kwargs):
    kwargs.setdefault("session", local_session())
    kwargs.setdefault("retry", NO_JITTER)
    kwargs.setdefault("timeout", 5.0)
    return EUtilsClient(f"{server.url}/entrez/eutils", clock=clock, sleep=clock.sleep, **kwargs)


def assert_synthetic(result, pmids):
    assert list(result.documents) == pmids
    assert not result.failed
    for pmid in pmids:
        title, abstract, mentions = synthetic(pmid)
        doc = result.documents[pmid]
        assert (doc.pmid, doc.title, doc.abstract) == (pmid, title, abstract)
        assert [(m.start, m.end, m.text, m.type) for m in doc.mentions] == [m[:4] for m in mentions]
        assert [(r.type, *r.args) for r in doc.relations] == [CID]
        assert all(isinstance(m, Mention) and doc.text[m.start : m.end] == m.text for m in doc.mentions)


def test_pubtator_fetch_complete_and_correct(server, clock):
    with pubtator_client(server, clock) as client:
        result = client.fetch_annotations(PMIDS[:5])
    assert_synthetic(result, PMIDS[:5])
    assert result.n_requests == 1 and result.duplicates == [] and result.from_cache == set()
    (req,) = server.requests("pubtator")
    assert req.pmids == tuple(PMIDS[:5])
    assert req.headers["User-Agent"].startswith("spacy_bioner/")


def test_eutils_abstracts_and_mesh(server, clock):
    client = eutils_client(server, clock, email="me@example.org")
    result = client.fetch_abstracts(PMIDS[:3])
    assert not result.failed and list(result.mesh) == PMIDS[:3]
    title, abstract, _ = synthetic(PMIDS[0])
    doc = result.documents[PMIDS[0]]
    assert doc.title == title and doc.mentions == []
    assert doc.abstract == f"BACKGROUND: {abstract} No more."  # inline markup kept as text
    expected = MeshIndexing(("D001241", "D006261"), ("D001241",), ("D001241",), ("C000001",))
    assert result.mesh[PMIDS[0]] == expected
    assert result.mesh[PMIDS[0]].ids == {"D001241", "D006261", "C000001"}
    (req,) = server.requests("efetch")
    assert req.params == {"db": "pubmed", "id": ",".join(PMIDS[:3]), "retmode": "xml",
                          "tool": "spacy_bioner", "email": "me@example.org"}
    assert client.limiter.interval == pytest.approx(1 / 3)


def _sections(abstract: str):
    """Split a PubTator abstract back into efetch sections at its ``LABEL: `` markers."""
    marks = list(re.finditer(r"(?:^|(?<= ))([A-Z][A-Z ,/&-]*[A-Z]): ", abstract))
    if not marks or marks[0].start() != 0:
        return [("", abstract)] if abstract else []
    ends = [m.start() - 1 for m in marks[1:]] + [len(abstract)]
    return [(m.group(1), abstract[m.end() : end]) for m, end in zip(marks, ends)]


def disease_ids(doc):
    return {i[5:] for m in doc.mentions if m.type == "Disease" for i in m.ids if i.startswith("MESH:D")}


def test_real_documents_round_trip(data_dir, clock):
    path = data_dir / "pubtator" / "chemdisgene_ctd_dev.PubTator.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        raw = [r.strip("\n") + "\n" for r in f.read().split("\n\n") if r.strip()][:8]
    expected = {d.pmid: d for d in parse_pubtator("\n".join(raw), name=str(path))}
    assert len(expected) == 8
    pubmed = {
        p: pubmed_article(p, escape(d.title), [(lab, escape(t)) for lab, t in _sections(d.abstract)],
                          mesh=[(ui, False, False) for ui in sorted(disease_ids(d))])
        for p, d in expected.items()
    }
    assert any(len(_sections(d.abstract)) > 1 for d in expected.values())  # a structured abstract
    assert any(disease_ids(d) for d in expected.values())
    with FakeNCBI({r.split("|", 1)[0]: r for r in raw}, pubmed, clock=clock) as srv:
        annotations = pubtator_client(srv, clock).fetch_annotations(list(expected))
        abstracts = eutils_client(srv, clock).fetch(list(expected))
    assert not annotations.failed and not abstracts.failed
    for pmid, doc in expected.items():
        got = annotations.documents[pmid]
        assert (got.title, got.abstract, got.mentions, got.relations) == (
            doc.title, doc.abstract, doc.mentions, doc.relations)
        text = abstracts.documents[pmid]
        assert (text.title, text.abstract) == (doc.title, doc.abstract)  # PubTator's way of joining
        assert abstracts.mesh[pmid].descriptors == tuple(sorted(disease_ids(doc)))


def test_batches_of_at_most_100(server, clock):
    result = pubtator_client(server, clock).fetch_annotations(PMIDS)
    assert_synthetic(result, PMIDS)
    assert [len(r.pmids) for r in server.requests("pubtator")] == [100, 100, 50]
    assert [p for r in server.requests("pubtator") for p in r.pmids] == PMIDS
    with pytest.raises(ValueError, match="batch_size"):
        pubtator_client(server, clock, batch_size=101)


def test_rate_limit_respected(server, clock):
    pubtator_client(server, clock).fetch_annotations(PMIDS)
    times = [r.time for r in server.requests("pubtator")]
    assert all(b - a >= 1 / 3 - 1e-9 for a, b in zip(times, times[1:]))
    assert clock.sleeps == pytest.approx([1 / 3, 1 / 3])  # only the limiter slept
    keyed = eutils_client(server, clock, api_key="SECRET")
    assert keyed.fetch(PMIDS).failed == {}
    reqs = server.requests("efetch")
    assert all(r.params["api_key"] == "SECRET" for r in reqs) and len(reqs) == 3
    assert all(b.time - a.time >= 0.1 - 1e-9 for a, b in zip(reqs, reqs[1:]))
    assert keyed.limiter.interval == pytest.approx(0.1)


def test_rate_limiter_is_thread_safe():
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    granted, lock = [], threading.Lock()

    def work():
        for _ in range(25):
            t = limiter.acquire()
            with lock:
                granted.append(t)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    assert len(granted) == 100
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(granted, granted[1:]))
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)


def test_retry_after_honoured(server, clock):
    server.fail_next("pubtator", Fault(status=429, headers={"Retry-After": "7"}))
    result = pubtator_client(server, clock).fetch_annotations(PMIDS[:3])
    assert_synthetic(result, PMIDS[:3])
    assert len(server.requests("pubtator")) == 2 and result.n_requests == 2
    assert clock.sleeps == [7.0]
    t0, t1 = (r.time for r in server.requests("pubtator"))
    assert t1 - t0 == pytest.approx(7.0)


def test_server_errors_retried_with_backoff(server, clock):
    server.fail_next("efetch", Fault(status=500), Fault(status=503))
    result = eutils_client(server, clock).fetch(PMIDS[:3])
    assert list(result.documents) == PMIDS[:3] and not result.failed
    assert len(server.requests("efetch")) == 3
    assert clock.sleeps == [1.0, 2.0]


@pytest.mark.parametrize("service", ["pubtator", "efetch"])
@pytest.mark.parametrize("fault", [Fault(malformed=True), Fault(truncate=True), Fault(delay=1.0)],
                         ids=["malformed", "truncated", "timeout"])
def test_bad_answers_retried(server, clock, service, fault):
    server.fail_next(service, fault)
    make = pubtator_client if service == "pubtator" else eutils_client
    client = make(server, clock, timeout=0.3)
    result = client.fetch(PMIDS[:4]) if service == "efetch" else client.fetch_annotations(PMIDS[:4])
    assert list(result.documents) == PMIDS[:4] and not result.failed
    assert len(server.requests(service)) == 2 and result.n_requests == 2
    if service == "pubtator":
        assert_synthetic(result, PMIDS[:4])


class ShortBodySession(requests.Session):
    """Answers the first GET with a body shorter than its Content-Length, as an HTTP stack that
    does not enforce Content-Length would hand it over; later GETs go to the server."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.trust_env = False
        self.short = body

    def get(self, url, **kwargs):
        if self.short is None:
            return super().get(url, **kwargs)
        resp = requests.Response()
        resp.status_code, resp.url = 200, url
        resp.headers["Content-Length"] = str(len(self.short))
        resp._content, self.short = self.short[: len(self.short) // 2], None
        return resp


def test_content_length_mismatch_is_retried(server, clock, caplog):
    session = ShortBodySession(server.body("pubtator", PMIDS[:4]))
    result = pubtator_client(server, clock, session=session).fetch_annotations(PMIDS[:4])
    assert_synthetic(result, PMIDS[:4])
    assert result.n_requests == 2 and len(server.requests("pubtator")) == 1
    assert "truncated body: Content-Length" in caplog.text

def test_partial_answer_reasks_missing(server, clock):
    server.fail_next("pubtator", Fault(drop=frozenset(PMIDS[2:4])))
    result = pubtator_client(server, clock).fetch_annotations(PMIDS[:5])
    assert_synthetic(result, PMIDS[:5])
    assert [r.pmids for r in server.requests("pubtator")] == [tuple(PMIDS[:5]), tuple(PMIDS[2:4])]


def test_one_bad_record_fails_alone(server, clock):
    bad = PMIDS[2]
    server.data["pubtator"][bad] = f"{bad}|t|Title.\n{bad}|a|Text.\n{bad}\t0\t3\tzzz\tChemical\tD1\n"
    result = pubtator_client(server, clock).fetch_annotations(PMIDS[:5])
    good = PMIDS[:2] + PMIDS[3:5]
    reason = result.failed.pop(bad)
    assert "mention text 'zzz' differs" in reason and reason.endswith("(gave up after 3 attempts)")
    assert_synthetic(result, good)
    assert [r.pmids for r in server.requests("pubtator")] == [tuple(PMIDS[:5])] + [(bad,)] * 3


def test_empty_answer_is_split_and_unknown_pmids_fail(server, clock):
    unknown = ["9000001", "9000002"]
    server.fail_next("efetch", Fault(drop=frozenset(PMIDS[:2])))  # nothing at all in the first answer
    result = eutils_client(server, clock).fetch(PMIDS[:2] + unknown)
    assert list(result.documents) == PMIDS[:2] and list(result.mesh) == PMIDS[:2]
    assert set(result.failed) == set(unknown)
    assert all("absent from the PubMed efetch answer when asked alone (2 times)" in r
               for r in result.failed.values())
    asked = [r.pmids for r in server.requests("efetch")]
    assert asked[:3] == [tuple(PMIDS[:2] + unknown), tuple(PMIDS[:2]), tuple(unknown)]
    assert sorted(asked[3:]) == [(unknown[0],), (unknown[0],), (unknown[1],), (unknown[1],)]


def test_failed_after_max_retries(server, clock):
    server.fail_always("pubtator", Fault(status=503))
    result = pubtator_client(server, clock).fetch_annotations(PMIDS[:150])
    assert result.documents == {} and list(result.failed) == PMIDS[:150]
    assert set(result.failed.values()) == {"HTTP 503 (gave up after 3 attempts)"}
    assert len(server.requests("pubtator")) == 6 and result.n_requests == 6
    server.fail_always("pubtator", Fault(status=404))  # not worth retrying
    result = pubtator_client(server, clock).fetch_annotations(PMIDS[:1])
    assert result.failed[PMIDS[0]].startswith("HTTP 404")
    assert len(server.requests("pubtator")) == 7


def test_duplicates_and_invalid_ids(server, clock):
    asked = [PMIDS[0], PMIDS[1], f" {PMIDS[0]} ", int(PMIDS[2]), "12abc", PMIDS[1]]
    result = pubtator_client(server, clock).fetch_annotations(asked)
    assert result.requested == PMIDS[:3] + ["12abc"]
    assert result.duplicates == [PMIDS[0], PMIDS[1]]
    assert list(result.documents) == PMIDS[:3]
    assert "12abc" in result.failed and "not a PubMed id" in result.failed["12abc"]
    (req,) = server.requests("pubtator")
    assert req.pmids == tuple(PMIDS[:3])
    assert result.summary().startswith("4 PMIDs: 3 fetched (0 from cache), 1 failed, 2 duplicated")


def test_cache_second_run_makes_no_request(server, clock, tmp_path):
    cache = tmp_path / "cache.sqlite"
    first = pubtator_client(server, clock, cache=cache).fetch_annotations(PMIDS[:120])
    abstracts = eutils_client(server, clock, cache=cache).fetch(PMIDS[:120])
    n = len(server.log)
    assert n == 4
    again = pubtator_client(server, clock, cache=cache).fetch_annotations(PMIDS[:120])
    abstracts_again = eutils_client(server, clock, cache=PmidCache(cache)).fetch(PMIDS[:120])
    assert len(server.log) == n and again.n_requests == 0
    assert again.from_cache == set(PMIDS[:120]) == abstracts_again.from_cache
    for pmid in PMIDS[:120]:
        a, b = first.documents[pmid], again.documents[pmid]
        assert (a.title, a.abstract, a.mentions) == (b.title, b.abstract, b.mentions)
        assert a.relations == b.relations and b.source.endswith(f"#pubtator3:{pmid}")
        assert abstracts.documents[pmid].abstract == abstracts_again.documents[pmid].abstract
        assert abstracts.mesh[pmid] == abstracts_again.mesh[pmid]
    assert PmidCache(cache).count("pubtator3") == 120


def test_interrupted_run_resumes(server, clock, tmp_path):
    cache = tmp_path / "cache.sqlite"
    server.fail_next("pubtator", Fault(), Fault(status=503))

    def interrupt(seconds):
        if seconds >= 1.0:  # the backoff after the 503, not the rate limiter
            raise KeyboardInterrupt
        clock.sleep(seconds)

    client = PubTatorClient(f"{server.url}/pubtator3-api", cache=cache, clock=clock, sleep=interrupt,
                            retry=NO_JITTER, timeout=5.0, session=local_session())
    with pytest.raises(KeyboardInterrupt):
        client.fetch_annotations(PMIDS)
    client.close()
    assert len(server.log) == 2
    result = pubtator_client(server, clock, cache=cache).fetch_annotations(PMIDS)
    assert_synthetic(result, PMIDS)
    assert result.from_cache == set(PMIDS[:100]) and result.n_requests == 2
    assert [r.pmids for r in server.log[2:]] == [tuple(PMIDS[100:200]), tuple(PMIDS[200:])]


def test_corrupt_cache_entry_is_fetched_again(server, clock, tmp_path):
    cache = PmidCache(tmp_path / "c.sqlite")
    cache.put_many("pubtator3", {PMIDS[0]: {"title": "no other field"}})
    result = pubtator_client(server, clock, cache=cache).fetch_annotations(PMIDS[:2])
    assert_synthetic(result, PMIDS[:2])
    assert server.requests("pubtator")[0].pmids == tuple(PMIDS[:2]) and result.from_cache == set()
    assert cache.get_many("pubtator3", [PMIDS[0]])[PMIDS[0]]["title"] == synthetic(PMIDS[0])[0]


def test_backoff_is_capped_and_jittered():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0, jitter=0.5)
    rng = random.Random(0)
    for attempt in range(8):
        raw = min(5.0, 2.0 ** attempt)
        for _ in range(20):
            assert raw * 0.5 <= policy.backoff(attempt, rng) <= raw
    assert policy.delay(3, 300.0, rng) == 120.0  # Retry-After honoured up to retry_after_max
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=2.0)


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 50 < parse_retry_after(when) <= 60


def test_parse_pubmed_xml_shapes_and_errors():
    book = ('<PubmedBookArticle><BookDocument><PMID Version="1">20301295</PMID>'
            "<Book><BookTitle>GeneReviews</BookTitle></Book><Abstract>"
            '<AbstractText Label="CLINICAL CHARACTERISTICS">Dis<sup>2</sup> ease.</AbstractText>'
            "<AbstractText>Plain\nline.</AbstractText></Abstract></BookDocument></PubmedBookArticle>")
    bare = '<PubmedArticle><MedlineCitation><PMID>5</PMID><Article><ArticleTitle>T.</ArticleTitle>' \
           "</Article></MedlineCitation></PubmedArticle>"
    records = parse_pubmed_xml((XML_HEAD + f"<PubmedArticleSet>{book}{bare}</PubmedArticleSet>").encode())
    doc, mesh = records["20301295"]
    assert (doc.title, doc.abstract) == ("GeneReviews", "CLINICAL CHARACTERISTICS: Dis2 ease. Plain line.")
    assert mesh == MeshIndexing()
    assert (records["5"][0].title, records["5"][0].abstract) == ("T.", "")
    labels_off = parse_pubmed_xml(f"<PubmedArticleSet>{book}</PubmedArticleSet>", section_labels=False)
    assert labels_off["20301295"][0].abstract == "Dis2 ease. Plain line."
    with pytest.raises(ValueError, match=r"answer\.xml: root element is <eFetchResult>"):
        parse_pubmed_xml("<eFetchResult><ERROR>busy</ERROR></eFetchResult>", name="answer.xml")
    with pytest.raises(ValueError, match="number 1 has no PMID"):
        parse_pubmed_xml("<PubmedArticleSet><PubmedArticle/></PubmedArticleSet>")
    with pytest.raises(ValueError, match="unparseable XML"):
        parse_pubmed_xml("<PubmedArticleSet>")

