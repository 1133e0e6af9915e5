"""The files of an index build that are not FAISS's or bm25s's: the sentence table, and checksums.

The sentence table (`chunks/`, one `.npy` file an array) holds every sentence chunk and every BM25
row as arrays: document numbers, paragraph numbers, positions, the paragraph row of each sentence,
and the sentences' texts and contexts as UTF-8 bytes with their offsets (a context is stored once
and shared by the sentences that have it). Loading maps the files into memory (nothing is read
until used); a `Chunk` is made when one is read (`ChunkTable`). Parsing one JSON line a sentence
took most of a 27 s load at 1.6 M sentences (README, scaling).

Checksums: the manifest records every file's sha256 and size. Loading checks every file's size,
the full sha256 of files up to `FULL_CHECK_BYTES`, and of bigger ones a sha256 of `SAMPLE_BLOCKS`
blocks spread over the file (hashing 3.3 GB took seconds at every start); `verify_files` (`qa
index --verify`) hashes every byte.

Left out: compression (the texts are ~0.1 KB a sentence beside 1.5 KB of vector).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chunking import Chunk

TABLE = "chunks"  # a folder inside a build
ARRAYS = (
    "doc_id_bytes", "doc_id_ends", "chunk_doc", "chunk_paragraph", "chunk_index", "chunk_part", "chunk_row",
    "chunk_context", "text_bytes", "text_ends", "context_bytes", "context_ends", "row_doc", "row_paragraph",
)
FULL_CHECK_BYTES = 64 << 20  # files up to this size are hashed whole at every load
SAMPLE_BLOCKS = 32  # blocks hashed at load of a bigger file (first and last included)
SAMPLE_BLOCK_BYTES = 1 << 16


class TableError(ValueError):
    """The sentence table is missing arrays or they disagree in length."""


def _pack(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of `strings` one after another, and the n + 1 offsets that cut them apart."""
    encoded = [s.encode("utf-8") for s in strings]
    ends = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=ends[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), ends


class _Strings:
    """Strings packed by `_pack` (arrays, possibly memory-mapped), decoded one at a time when read."""

    def __init__(self, data: np.ndarray, ends: np.ndarray) -> None:
        self._bytes, self._ends = data, ends

    def __len__(self) -> int:
        return len(self._ends) - 1

    def __getitem__(self, i: int) -> str:
        return self._bytes[int(self._ends[i]) : int(self._ends[i + 1])].tobytes().decode("utf-8")


@dataclass(frozen=True, eq=False)
class ChunkTable(Sequence):
    """Every sentence chunk of a build, as arrays; `table[i]` is the `Chunk` of sentence i.

    `simplified`: numbers of the documents whose sentences are read in Simplified characters
    (`qa.normalize.to_simplified`; the documents of `SearchIndex.written`).
    """

    doc_ids: tuple[str, ...]
    doc: np.ndarray  # int32: document number of each sentence
    paragraph: np.ndarray  # int32: its paragraph number in the document
    position: np.ndarray  # int32: its position in the paragraph (Chunk.index)
    part: np.ndarray  # int32: its window of clauses
    row: np.ndarray  # int64: its paragraph's BM25 row (ascending)
    context_of: np.ndarray  # int32: its context's number
    texts: _Strings
    contexts: _Strings
    row_doc: np.ndarray  # int32: document number of each BM25 row (paragraph)
    row_paragraph: np.ndarray  # int32: its paragraph number
    simplified: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self.doc)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        d = int(self.doc[i])
        text = self.texts[i]
        if d in self.simplified:
            from .normalize import to_simplified

            text = to_simplified(text)
        return Chunk(self.doc_ids[d], int(self.paragraph[i]), int(self.position[i]), int(self.part[i]), text, self.contexts[int(self.context_of[i])])

    def __iter__(self) -> Iterator[Chunk]:
        return (self[i] for i in range(len(self)))

    def reading(self, doc_ids: set[str]) -> "ChunkTable":
        """The same table with the sentences of `doc_ids` read in Simplified characters."""
        numbers = frozenset(i for i, d in enumerate(self.doc_ids) if d in doc_ids)
        return ChunkTable(**{**self.__dict__, "simplified": numbers})


def write_table(folder: Path, chunks: Sequence[Chunk], keys: Sequence[tuple[str, int]]) -> list[Path]:
    """Write the chunks and the BM25 rows (`keys`: (document, paragraph) of each row) into `folder`
    (created); returns the files written."""
    doc_ids = list(dict.fromkeys([d for d, _ in keys] + [c.doc for c in chunks]))
    number = {d: i for i, d in enumerate(doc_ids)}
    row_of = {key: i for i, key in enumerate(keys)}
    context_ids: dict[str, int] = {}
    context_of = [context_ids.setdefault(c.context, len(context_ids)) for c in chunks]
    text_bytes, text_ends = _pack([c.text for c in chunks])
    context_bytes, context_ends = _pack(list(context_ids))
    id_bytes, id_ends = _pack(doc_ids)
    arrays = {
        "doc_id_bytes": id_bytes, "doc_id_ends": id_ends,
        "chunk_doc": np.array([number[c.doc] for c in chunks], dtype=np.int32),
        "chunk_paragraph": np.array([c.paragraph for c in chunks], dtype=np.int32),
        "chunk_index": np.array([c.index for c in chunks], dtype=np.int32),
        "chunk_part": np.array([c.part for c in chunks], dtype=np.int32),
        "chunk_row": np.array([row_of[(c.doc, c.paragraph)] for c in chunks], dtype=np.int64),
        "chunk_context": np.array(context_of, dtype=np.int32),
        "text_bytes": text_bytes, "text_ends": text_ends,
        "context_bytes": context_bytes, "context_ends": context_ends,
        "row_doc": np.array([number[d] for d, _ in keys], dtype=np.int32),
        "row_paragraph": np.array([n for _, n in keys], dtype=np.int32),
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ARRAYS:
        np.save(folder / f"{name}.npy", arrays[name], allow_pickle=False)
    return [folder / f"{name}.npy" for name in ARRAYS]


def read_table(folder: Path) -> tuple[ChunkTable, list[tuple[str, int]]]:
    """The chunk table (its arrays memory-mapped) and the BM25 rows' (document, paragraph) keys
    written by `write_table`.

    Raises:
        TableError: arrays of disagreeing lengths; OSError, ValueError: a missing or unreadable file.
    """
    a = {name: np.load(Path(folder) / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in ARRAYS}
    try:
        ids = _Strings(a["doc_id_bytes"], a["doc_id_ends"])
        doc_ids = tuple(ids[i] for i in range(len(ids)))
        table = ChunkTable(
            doc_ids, a["chunk_doc"], a["chunk_paragraph"], a["chunk_index"], a["chunk_part"], a["chunk_row"], a["chunk_context"],
            _Strings(a["text_bytes"], a["text_ends"]), _Strings(a["context_bytes"], a["context_ends"]), a["row_doc"], a["row_paragraph"],
        )
        keys = list(zip([doc_ids[d] for d in a["row_doc"].tolist()], a["row_paragraph"].tolist()))
    except (KeyError, IndexError) as exc:
        raise TableError(f"{Path(folder).name}: {exc}") from None
    n = len(table.doc)
    lengths = {len(table.paragraph), len(table.position), len(table.part), len(table.row), len(table.context_of), len(table.texts)}
    if lengths != {n} or len(a["row_doc"]) != len(a["row_paragraph"]) or (n and (table.row.min() < 0 or table.row.max() >= len(keys))):
        raise TableError(f"{Path(folder).name}: arrays of different lengths")
    return table, keys


# -- checksums ----------------------------------------------------------------------------------


def file_sha(path: Path) -> str:
    """sha256 of every byte of the file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def sample_sha(path: Path, size: int) -> str:
    """sha256 of `SAMPLE_BLOCKS` blocks spread evenly over the file, the first and the last included."""
    h = hashlib.sha256()
    last = max(0, size - SAMPLE_BLOCK_BYTES)
    with open(path, "rb") as f:
        for k in range(SAMPLE_BLOCKS):
            f.seek(last * k // (SAMPLE_BLOCKS - 1))
            h.update(f.read(SAMPLE_BLOCK_BYTES))
    return h.hexdigest()


def file_record(path: Path) -> dict:
    """What the manifest records of one file: size, full sha256 and, for a big file, the sampled one."""
    size = path.stat().st_size
    record = {"bytes": size, "sha256": file_sha(path)}
    if size > FULL_CHECK_BYTES:
        record["sample_sha256"] = sample_sha(path, size)
    return record


def damaged_files(build: Path, records: dict[str, dict], full: bool = False) -> list[str]:
    """Names of the files whose size or checksum differs from `records`: the full sha256 of small
    files (of every file with `full`), the sampled one of big files."""
    bad = []
    for name, record in records.items():
        path = build / name
        size = path.stat().st_size
        if size != record["bytes"]:
            bad.append(name)
        elif full or "sample_sha256" not in record:
            if file_sha(path) != record["sha256"]:
                bad.append(name)
        elif sample_sha(path, size) != record["sample_sha256"]:
            bad.append(name)
    return bad
