"""DocBin files: reading, writing, copying and relabelling them, compactly held token sequences
(:class:`DocStore`), and fast, sharded writing (:class:`FastDocBin`, :class:`DocBinWriter`).

A DocBin "path" is a ``.spacy`` file or a folder of them (sharded sets, as spaCy's corpus reader
walks them). Docs keep their ``user_data`` (``pmid``, ``offset``, ``title_end``: see
:mod:`.spacy_docs`).
"""

from __future__ import annotations

import hashlib
import shutil
from collections import deque
from concurrent.futures import Future
from itertools import chain, islice
from pathlib import Path
from typing import (Any, Callable, Deque, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple,
                    Union)

import numpy
import srsly
from spacy.attrs import DEP, ENT_ID, ENT_IOB, ENT_KB_ID, ENT_TYPE, LEMMA, MORPH, NORM, ORTH, SPACY, TAG
from spacy.language import Language
from spacy.strings import StringStore
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .spacy_docs import PMID_KEY

PathLike = Union[str, Path]
#: A Doc as :meth:`FastDocBin.pack` gives it: tokens, spaces, flags, strings, cats, user data,
#: span groups.
PackedDoc = Tuple[numpy.ndarray, numpy.ndarray, Dict[str, bool], Tuple[str, ...],
                  Dict[str, float], bytes, bytes]


# -- files --------------------------------------------------------------------------------------

def write_docbin(docs: Iterable[Doc], path: Union[str, Path]) -> int:
    """Write Docs (with user_data) to a ``.spacy`` file; return how many were written."""
    path = Path(path)
    doc_bin = DocBin(store_user_data=True)
    count = 0
    for doc in docs:
        doc_bin.add(doc)
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(path)
    return count


def load_docbin_file(path: Path) -> DocBin:
    """One ``.spacy`` file as a DocBin (with user data); an unreadable file is named in the error."""
    try:
        return DocBin(store_user_data=True).from_disk(path)
    except Exception as err:  # msgpack/zlib errors: name the file
        raise ValueError(f"{path}: not a readable DocBin file ({err})") from err


def read_docbin(path: Union[str, Path], nlp: Language) -> List[Doc]:
    """Read the Docs of a ``.spacy`` file over ``nlp.vocab``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such DocBin file")
    return list(load_docbin_file(path).get_docs(nlp.vocab))


def docbin_paths(path: Path) -> List[Path]:
    """The DocBin files of ``path``: the file itself, or a folder's ``.spacy`` files (sorted,
    recursively, as spaCy's corpus reader walks them; sharded weak sets are such folders)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.spacy") if p.is_file())
        if not files:
            raise ValueError(f"{path}: a folder without .spacy files")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such DocBin file or folder")
    return [path]


def read_docbins(path: Path, vocab: Any) -> Iterator[Doc]:
    """The Docs (with user_data) of a DocBin file or folder of DocBin files, in order."""
    for file in docbin_paths(path):
        yield from load_docbin_file(file).get_docs(vocab)


def copy_docbin(
    source: Path, target: Path, limit: Optional[int] = None, prefer: Iterable[str] = ()
) -> Tuple[int, List[str]]:
    """Copy documents of ``source`` (a DocBin file or folder of shards) into one DocBin ``target``.

    First, in source order, the first document of each PMID in ``prefer``; then the others, in
    source order, until ``limit`` documents (None: all). The source is streamed (read twice when
    ``prefer`` is given), never held as Docs. Returns the number written and the PMIDs of
    ``prefer`` that ``source`` lacks."""
    wanted, found = set(map(str, prefer)), set()
    vocab = Vocab()

    def preferred() -> Iterator[Doc]:
        for doc in read_docbins(source, vocab):
            pmid = str(doc.user_data.get(PMID_KEY))
            if pmid in wanted and pmid not in found:
                found.add(pmid)
                yield doc

    def others() -> Iterator[Doc]:
        skipped = set()  # the first copy of a preferred PMID went out already; later copies did not
        for doc in read_docbins(source, vocab):
            pmid = str(doc.user_data.get(PMID_KEY))
            if pmid in wanted and pmid not in skipped:
                skipped.add(pmid)
                continue
            yield doc

    docs = chain(preferred(), others()) if wanted else read_docbins(source, vocab)
    written = write_docbin(docs if limit is None else islice(docs, limit), target)
    if wanted - found:  # the limit may have cut the first pass short: look the rest up
        found.update(str(doc.user_data.get(PMID_KEY)) for doc in read_docbins(source, vocab))
    return written, sorted(wanted - found)


def limit_docbin(source: Path, target: Path, limit: Optional[int]) -> Path:
    """``source`` itself, or a copy of its first ``limit`` documents at ``target``."""
    if limit is None:
        return source
    copy_docbin(source, target, limit)
    return target


def concat_docbins(sources: Sequence[Path], target: Path) -> Path:
    """One DocBin with the documents of all ``sources`` in order (user data kept)."""
    import spacy

    vocab = spacy.blank("en").vocab
    write_docbin((doc for source in sources for doc in read_docbins(source, vocab)), target)
    return target


def docbin_pmids(path: Path) -> List[str]:
    """The PMIDs (``user_data["pmid"]``) of a DocBin's documents, in order; an error names a doc without one."""
    pmids = []
    for i, doc in enumerate(read_docbins(path, Vocab())):
        if PMID_KEY not in doc.user_data:
            raise ValueError(f"{path}: document {i} has no PMID in its user data")
        pmids.append(str(doc.user_data[PMID_KEY]))
    return pmids




def docbin_labels(path: Path) -> List[str]:
    """The entity labels used in a DocBin file."""
    labels = set()
    for doc in read_docbins(path, Vocab()):
        labels.update(ent.label_ for ent in doc.ents)
    return sorted(labels)


def fresh_copies(nlp: Language, docs: Iterable[Doc]) -> Iterator[Doc]:
    """Unannotated copies of docs (same tokens, user_data kept) in ``nlp``'s vocab."""
    for doc in docs:
        copy = Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
        copy.user_data.update(doc.user_data)
        yield copy


def relabel_docbin(
    nlp: Language, source: Path, target: Path, batch_size: int = 64, n_process: int = 1
) -> Dict[str, int]:
    """Replace every document's entities in a DocBin by ``nlp``'s predictions, tokens unchanged."""
    docs = read_docbins(source, nlp.vocab)
    stats = {"documents": 0, "entities": 0}

    def relabelled() -> Iterator[Doc]:
        for doc in nlp.pipe(fresh_copies(nlp, docs), batch_size=batch_size, n_process=n_process):
            stats["entities"] += len(doc.ents)
            yield doc

    stats["documents"] = write_docbin(relabelled(), target)
    return stats


def count_docbin(path: Path, vocab: Optional[Any] = None) -> int:
    """Number of documents in a DocBin file or folder of DocBin files."""
    return sum(len(DocBin().from_disk(file)) for file in docbin_paths(path))


# -- compact token sequences ------------------------------------------------------------------

class DocStore:
    """The token sequences of some DocBin files, kept compact (ORTH ids and spaces per doc).

    Docs are re-made per batch in whichever vocab a model needs. Empty documents are dropped.
    With ``with_entities`` the documents' entities are kept too, as token spans (:meth:`spans`).
    """

    def __init__(self, with_entities: bool = False) -> None:
        self.with_entities = with_entities
        self.entities: List[List[Tuple[int, int, str]]] = []
        self.strings = StringStore()
        self.orths: List[numpy.ndarray] = []
        self.spaces: List[numpy.ndarray] = []
        self.ids: List[str] = []
        self.user_data: List[Dict[Any, Any]] = []
        self.sources: List[str] = []
        self.skipped_empty = 0

    @classmethod
    def from_docbins(
        cls, paths: Sequence[PathLike], limit: Optional[int] = None, with_entities: bool = False
    ) -> "DocStore":
        """Read DocBin files (or folders of them) in order; ``limit`` caps the documents per path."""
        store = cls(with_entities)
        for path in map(Path, paths):
            store.add_docbin(path, limit)
        if not store.orths:
            raise ValueError(f"no non-empty documents in {', '.join(map(str, paths))}")
        return store

    def add_docbin(self, path: Path, limit: Optional[int] = None) -> None:
        """Add the documents of a DocBin file or folder of DocBin files (``limit`` in all)."""
        taken = 0
        for file in docbin_paths(path):
            if limit is not None and taken >= limit:
                break
            taken += self._add_file(file, None if limit is None else limit - taken)

    def _add_file(self, path: Path, limit: Optional[int]) -> int:
        docbin = load_docbin_file(path)
        taken = 0
        for string in docbin.strings:
            self.strings.add(string)
        orth_col = docbin.attrs.index(ORTH)
        ent_cols = (docbin.attrs.index(ENT_IOB), docbin.attrs.index(ENT_TYPE)) if self.with_entities else None
        for i, tokens in enumerate(docbin.tokens):
            if limit is not None and i >= limit:
                break
            taken += 1
            if len(tokens) == 0:
                self.skipped_empty += 1
                continue
            raw = docbin.user_data[i] if i < len(docbin.user_data) else None
            user_data = dict(srsly.msgpack_loads(raw, use_list=False)) if raw else {}
            self.orths.append(numpy.ascontiguousarray(tokens[:, orth_col], dtype="uint64"))
            self.spaces.append(numpy.asarray(docbin.spaces[i], dtype=bool).reshape(-1))
            self.ids.append(str(user_data.get(PMID_KEY, f"{path.name}#{i}")))
            self.user_data.append({k: v for k, v in user_data.items() if isinstance(k, str)})
            self.sources.append(str(path))
            if ent_cols is not None:
                iob, types = tokens[:, ent_cols[0]], tokens[:, ent_cols[1]]
                self.entities.append(entity_spans_from_iob(iob, types, self.strings))
        return taken

    def __len__(self) -> int:
        return len(self.orths)

    @property
    def lengths(self) -> List[int]:
        return [len(o) for o in self.orths]

    def spans(self, i: int) -> List[Tuple[int, int, str]]:
        """Entities of document ``i`` as ``(start, end, label)`` token spans (``with_entities``)."""
        if not self.with_entities:
            raise ValueError("this DocStore was read without entities")
        return self.entities[i]

    def words(self, i: int) -> List[str]:
        return [self.strings[int(o)] for o in self.orths[i]]

    def docs(self, vocab: Vocab, indices: Sequence[int]) -> List[Doc]:
        """Unannotated Docs of the given documents in ``vocab`` (``user_data`` kept)."""
        out = []
        for i in indices:
            doc = Doc(vocab, words=self.words(i), spaces=self.spaces[i].tolist())
            doc.user_data.update(self.user_data[i])
            out.append(doc)
        return out

    def fingerprint(self) -> str:
        """A hash of the token sequences (for cache keys)."""
        digest = hashlib.sha1()
        for orths, spaces in zip(self.orths, self.spaces):
            digest.update(numpy.int64(len(orths)).tobytes())
            digest.update(orths.tobytes())
            digest.update(spaces.tobytes())
        return digest.hexdigest()


def entity_spans_from_iob(iob: numpy.ndarray, types: numpy.ndarray, strings: StringStore) -> List[Tuple[int, int, str]]:
    """Token spans from a DocBin's ENT_IOB (3 = B, 1 = I, 2 = O, 0 = missing) and ENT_TYPE columns."""
    spans: List[Tuple[int, int, str]] = []
    start = None
    for i, (tag, kind) in enumerate(zip(iob.tolist(), types.tolist())):
        if start is not None and tag != 1:
            spans.append((start, i, label))
            start = None
        if tag == 3:
            start, label = i, strings[int(kind)]
    if start is not None:
        spans.append((start, len(iob), label))
    return spans


# -- fast, sharded writing ----------------------------------------------------------------------

class FastDocBin(DocBin):
    """A DocBin (with user data) whose :meth:`add` writes the same bytes as ``DocBin.add`` but
    collects the strings once per distinct hash instead of once per token attribute, and packs
    ``user_data`` with one reused msgpack packer (``srsly.msgpack_dumps`` builds a packer, and
    scans the package entry points, on every call)."""

    STRING_ATTRS = (ORTH, NORM, TAG, LEMMA, MORPH, DEP, ENT_TYPE, ENT_KB_ID, ENT_ID)

    def __init__(self) -> None:
        super().__init__(store_user_data=True)
        self._packer = srsly.msgpack.Packer(use_bin_type=True)

    def add(self, doc: Doc) -> None:
        self.add_packed(self.pack(doc))

    def pack(self, doc: Doc, strings: Optional[Dict[int, str]] = None) -> PackedDoc:
        """What :meth:`add` stores for ``doc``, as a picklable tuple (for :meth:`add_packed`,
        possibly in another process): token array, spaces, flags, strings, cats, user data,
        span groups. ``strings`` (hash -> string) is a cache shared by the Docs packed
        together, so that a string repeated across them is one object (pickled once)."""
        if len(doc.spans):  # span groups: the general path of DocBin.add
            single = DocBin(store_user_data=True)
            single.add(doc)
            return (single.tokens[0], single.spaces[0], single.flags[0],
                    tuple(single.strings), single.cats[0], single.user_data[0],
                    single.span_groups[0])
        array = doc.to_array(self.attrs)
        if len(array.shape) == 1:
            array = array.reshape((array.shape[0], 1))
        spaces = doc.to_array(SPACY).reshape((len(doc), 1))
        store = doc.vocab.strings
        keys = numpy.unique(doc.to_array(list(self.STRING_ATTRS))).tolist()
        if strings is None:
            texts = tuple(store[key] if key else "" for key in keys)
        else:
            found = []
            for key in keys:
                text = strings.get(key)
                if text is None:
                    text = strings[key] = store[key] if key else ""
                found.append(text)
            texts = tuple(found)
        return (array, numpy.asarray(spaces, dtype=bool),
                {"has_unknown_spaces": doc.has_unknown_spaces}, texts, doc.cats,
                self._packer.pack(doc.user_data), doc.spans.to_bytes())

    def parts(self) -> Tuple[object, ...]:
        """What :meth:`to_bytes` serialises, picklable (see :meth:`from_parts`)."""
        return (self.attrs, self.tokens, self.spaces, self.strings, self.cats, self.flags,
                self.user_data, self.span_groups)

    @classmethod
    def from_parts(cls, parts: Sequence[object]) -> "FastDocBin":
        docbin = cls()
        (docbin.attrs, docbin.tokens, docbin.spaces, docbin.strings, docbin.cats,  # type: ignore
         docbin.flags, docbin.user_data, docbin.span_groups) = parts
        return docbin

    def add_packed(self, packed: PackedDoc) -> None:
        """Add a Doc packed by :meth:`pack` (the same bytes as adding the Doc itself)."""
        tokens, spaces, flags, strings, cats, user_data, span_groups = packed
        self.tokens.append(tokens)
        self.spaces.append(spaces)
        self.flags.append(flags)
        self.strings.update(strings)
        self.cats.append(cats)
        self.user_data.append(user_data)
        self.span_groups.append(span_groups)


class DocBinWriter:
    """Write Docs to ``path`` (a ``.spacy`` file) or, once a shard is full (``shard_size``
    Docs or ``shard_tokens`` tokens), to a folder of that name holding ``shard-00000.spacy``,
    ``shard-00001.spacy``, ... (spaCy's corpus readers take the folder as they take a file).
    Serialising a DocBin briefly needs several times its size, hence shards by tokens too.

    With ``submit`` (``Executor.submit`` of worker processes), shards are serialised and
    written by a worker (the same bytes), at most two at a time; :meth:`close` waits for them."""

    def __init__(self, path: PathLike, shard_size: int = 1000,
                 shard_tokens: int = 200_000,
                 submit: Optional[Callable[..., "Future[object]"]] = None) -> None:
        if shard_size < 1 or shard_tokens < 1:
            raise ValueError(f"shard sizes must be positive, got {shard_size}, {shard_tokens}")
        self.path = Path(path)
        self.shard_size = shard_size
        self.shard_tokens = shard_tokens
        self.submit = submit
        self.count = 0
        self.shards = 0
        self._tokens = 0
        self._bin = FastDocBin()
        self._writing: Deque["Future[object]"] = deque()
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()

    def add(self, doc: Doc) -> None:
        self.add_packed(self._bin.pack(doc))

    def add_packed(self, packed: PackedDoc) -> None:
        """Add a Doc packed by :meth:`FastDocBin.pack`."""
        self._bin.add_packed(packed)
        self.count += 1
        self._tokens += len(packed[0])
        if len(self._bin) >= self.shard_size or self._tokens >= self.shard_tokens:
            self._flush()

    def _flush(self) -> None:
        if self.shards == 0:
            self.path.mkdir(parents=True)
        self._write(self.path / f"shard-{self.shards:05d}.spacy")
        self.shards += 1
        self._bin = FastDocBin()
        self._tokens = 0

    def _write(self, path: Path) -> None:
        if self.submit is None:
            self._bin.to_disk(path)
            return
        while len(self._writing) >= 2:
            self._writing.popleft().result()
        self._writing.append(self.submit(write_docbin_parts, str(path), self._bin.parts()))

    def close(self) -> None:
        if self.shards == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(self.path)
        elif len(self._bin):
            self._flush()
        while self._writing:
            self._writing.popleft().result()


def write_docbin_parts(path: str, parts: Sequence[object]) -> None:
    """Serialise and write a DocBin shard from :meth:`FastDocBin.parts` (in a worker process,
    see :meth:`DocBinWriter._write`)."""
    FastDocBin.from_parts(parts).to_disk(path)
