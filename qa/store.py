"""The document store behind `qa add`, `qa documents` and `qa remove` (and the upload door).

A store is a seeds folder as `load_corpus` reads it: `<id>.txt`, one paragraph per line, and
`catalog.json`, file name → {"title", "source", …}. Adding a file records, besides the title,
where it came from: `id`, `source_file` (the original name), `sha256` (of the original bytes),
`added_at`, `format`, `paragraphs` and, for a PDF, `pages` (the page each paragraph starts on).

Adding is all or nothing. Every file is read and checked first (`qa.formats.extract`); nothing is
written until all are good. Then the texts and the catalog are each written atomically, and the
index is refreshed: `build_index(reuse=True)` embeds only sentences it has not seen and switches to
the new build by replacing the `CURRENT` pointer, so a reader sees the old index or the new one.
If the refresh fails, the texts and the catalog are put back as they were. One writer at a time:
an exclusive lock on `<seeds>/.lock`; a reader that loads texts and index together (a server
reloading) takes it shared, and so never sees new texts with the old index.

Ids come from file names: Unicode letters and digits kept (Chinese included), everything else,
dots and path separators first, made `-`; a name that is taken gets `-2`, `-3`, … A file whose
bytes are already in the store is skipped; with `replace`, a file takes the place of the document
that has its id.

Left out: versions of a replaced document (the old text is gone) and locks across machines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePath
from typing import Iterator, Sequence

from .corpus import CATALOG_NAME, CorpusError, aliases_of, load_corpus, read_catalog, sha256_bytes
from .embedders import Embedder
from .files import write_atomic
from . import formats
from .formats import Extracted, IngestError, extract, file_format

LOCK_NAME = ".lock"
LOCK_TIMEOUT_S = 600.0
MAX_ID_CHARS = 80
MAX_NAME_CHARS = 255
_NOT_ID = re.compile(r"[^\w-]+")
_SAFE_ID = re.compile(r"[\w][\w.-]*")


@dataclass(frozen=True)
class Upload:
    """One file to add: its name (no folders), its bytes, and optionally a title and a source."""

    name: str
    data: bytes = field(repr=False)
    title: str | None = None
    source: str | None = None
    aliases: tuple[str, ...] = ()  # other names questions use for it (kept in the catalog entry)


@dataclass(frozen=True)
class StoredDocument:
    """What `qa documents` shows of one document."""

    id: str
    title: str
    paragraphs: int
    format: str = "txt"
    source_file: str | None = None
    sha256: str | None = None
    added_at: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class AddResult:
    """What one `add_documents` call did; `skipped` lists (file name, id already holding its bytes)."""

    added: list[StoredDocument]
    skipped: list[tuple[str, str]]
    embedded: int = 0
    seconds: float = 0.0
    index: Path | None = None


def document_id(file_name: str) -> str:
    """A safe id from a file name: `2024年 报告(终稿).docx` → `2024年-报告-终稿`; never empty, no dots."""
    stem = unicodedata.normalize("NFKC", PurePath(file_name).stem)
    slug = _NOT_ID.sub("-", stem).strip("-_").lower()[:MAX_ID_CHARS].strip("-_")
    return slug or "document"


def check_file_name(name: str) -> str:
    """The name itself if it is a bare file name; IngestError `bad_name` if it holds a path."""
    if not name or len(name) > MAX_NAME_CHARS or any(c in name for c in "/\\\x00") or name.strip(".") == "" or ":" in name:
        raise IngestError(f"file name {name[:100]!r} is not a bare file name (no folders, '..' or ':'); send the file's own name", "bad_name")
    return name


def _text_path(seeds_dir: Path, doc_id: str) -> Path:
    """`<seeds>/<id>.txt`, refusing an id that would point anywhere else."""
    if not _SAFE_ID.fullmatch(doc_id) or ".." in doc_id:
        raise IngestError(f"{doc_id[:100]!r} is not a document id; `qa documents` lists them", "not_found")
    return seeds_dir / f"{doc_id}.txt"


@contextlib.contextmanager
def store_lock(seeds_dir: Path, timeout_s: float = LOCK_TIMEOUT_S, *, shared: bool = False) -> Iterator[None]:
    """Hold the store's lock: exclusive to change it, `shared` to read texts and index together
    (a reader holding it never sees new texts with the old index, nor an old build being deleted).

    Raises:
        IngestError: `busy`, when another holder keeps it past `timeout_s`.
    """
    seeds_dir = Path(seeds_dir)
    seeds_dir.mkdir(parents=True, exist_ok=True)
    with open(seeds_dir / LOCK_NAME, "a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IngestError(f"another add or remove is changing {seeds_dir}; try again when it is done", "busy") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_upload(path: Path, title: str | None = None) -> Upload:
    """An Upload from a file on disk, checked for type and size before it is read. A title and a
    source (and aliases) for it may come from a `catalog.json` beside it (as in `examples/provincial-2026/`)."""
    path = Path(path)
    file_format(path.name)
    if not path.is_file():
        raise IngestError(f"{path}: no such file", "not_found")
    size = path.stat().st_size
    if size > formats.MAX_FILE_BYTES:
        raise IngestError(f"{path}: {size:,} bytes is over the {formats.MAX_FILE_BYTES:,}-byte limit for one file; split it", "too_large")
    entry: dict = {}
    with contextlib.suppress(CorpusError, OSError):
        found = read_catalog(path.parent).get(path.name)
        entry = found if isinstance(found, dict) else {}
    return Upload(path.name, path.read_bytes(), title=title or entry.get("title"), source=entry.get("source"), aliases=aliases_of(entry))


def list_documents(seeds_dir: Path) -> list[StoredDocument]:
    """Every document of the store, by id, with what the catalog says about it."""
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir() or not any(seeds_dir.glob("*.txt")):
        return []
    catalog = read_catalog(seeds_dir)
    out = []
    for doc in load_corpus(seeds_dir):
        entry = catalog.get(f"{doc.id}.txt")
        entry = entry if isinstance(entry, dict) else {}
        out.append(
            StoredDocument(
                id=doc.id, title=doc.title, paragraphs=len(doc.paragraphs), format=entry.get("format", "txt"),
                source_file=entry.get("source_file"), sha256=entry.get("sha256"), added_at=entry.get("added_at"),
            )
        )
    return out


def refresh_index(seeds_dir: Path, index_dir: Path, embedder: Embedder, progress: bool = False, approximate_from: int | None = None) -> Path | None:
    """Bring the index in line with the store: embed only new sentences; no index for an empty store.
    `approximate_from`: sentences from which the dense index is IVF (`Settings.approximate_min_sentences`)."""
    from .index import build_index, clear_index

    if not any(Path(seeds_dir).glob("*.txt")):
        clear_index(index_dir)
        return None
    return build_index(load_corpus(seeds_dir), embedder, index_dir, progress=progress, reuse=True, approximate_from=approximate_from)


def catalog_json(catalog: dict[str, dict]) -> str:
    """The catalog as JSON with one document a line: readable, and diffs show which entry changed."""
    lines = [f"  {json.dumps(name, ensure_ascii=False)}: {json.dumps(entry, ensure_ascii=False)}" for name, entry in catalog.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _entry(upload: Upload, extracted: Extracted, doc_id: str, sha: str) -> dict:
    """The catalog entry of a newly added document."""
    entry = {
        "id": doc_id,
        "title": upload.title or extracted.title or PurePath(upload.name).stem,
        "source": upload.source,
        "aliases": list(upload.aliases) or None,
        "source_file": upload.name,
        "sha256": sha,
        "added_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "format": extracted.format,
        "paragraphs": len(extracted.paragraphs),
        "pages": list(extracted.pages) if extracted.pages else None,
    }
    return {k: v for k, v in entry.items() if v is not None}


def _unique(base: str, taken: set[str]) -> str:
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


@contextlib.contextmanager
def _restore_on_error(paths: Sequence[Path]) -> Iterator[None]:
    """Put `paths` back as they were (or absent) if the block raises."""
    saved = {p: (p.read_bytes() if p.is_file() else None) for p in paths}
    try:
        yield
    except BaseException:
        for path, data in saved.items():
            if data is None:
                path.unlink(missing_ok=True)
            else:
                write_atomic(path, data)
        raise


def _read_uploads(uploads: Sequence[Upload], progress: bool) -> list[Extracted]:
    """Every upload read and checked; the first bad one raises, with its file name in the message."""
    from tqdm import tqdm

    extracted = []
    for upload in tqdm(uploads, desc="reading files", unit="file", disable=not progress or len(uploads) < 2):
        check_file_name(upload.name)
        try:
            extracted.append(extract(upload.name, upload.data))
        except IngestError as exc:
            message = str(exc) if str(exc).startswith(upload.name) else f"{upload.name}: {exc}"
            raise IngestError(message, exc.code) from None
    return extracted


def _plan(
    uploads: Sequence[Upload], extracted: list[Extracted], seeds_dir: Path, catalog: dict, replace: bool
) -> tuple[list[tuple[str, Extracted, dict]], list[tuple[str, str]]]:
    """(id, text, catalog entry) of each upload to write, and (file name, id) of those already stored."""
    by_sha = {sha256_bytes(p.read_bytes()): p.stem for p in seeds_dir.glob("*.txt")}  # files placed by hand too
    by_sha |= {e["sha256"]: name[:-4] for name, e in catalog.items() if isinstance(e, dict) and "sha256" in e}
    taken = {p.stem for p in seeds_dir.glob("*.txt")} | {name[:-4] for name in catalog if name.endswith(".txt")}
    plan: list[tuple[str, Extracted, dict]] = []
    skipped: list[tuple[str, str]] = []
    for upload, ext in zip(uploads, extracted):
        sha = sha256_bytes(upload.data)
        if sha in by_sha:
            skipped.append((upload.name, by_sha[sha]))
            continue
        base, planned = document_id(upload.name), {d for d, _, _ in plan}
        doc_id = _unique(base, taken | planned) if base in planned or (base in taken and not replace) else base
        taken.add(doc_id)
        by_sha[sha] = doc_id
        plan.append((doc_id, ext, _entry(upload, ext, doc_id, sha)))
    return plan, skipped


def add_documents(
    uploads: Sequence[Upload],
    seeds_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    replace: bool = False,
    progress: bool = False,
    approximate_from: int | None = None,
) -> AddResult:
    """Read, store and index files, all or nothing; with `replace`, a file replaces the document of its id.

    Raises:
        IngestError: a file is of an unsupported type, empty, too large, malformed, encrypted, a zip
            bomb, or has a path in its name; the store and the index are then unchanged.
    """
    started = time.perf_counter()
    seeds_dir, index_dir = Path(seeds_dir), Path(index_dir)
    extracted = _read_uploads(uploads, progress)
    with store_lock(seeds_dir):
        catalog = read_catalog(seeds_dir)
        plan, skipped = _plan(uploads, extracted, seeds_dir, catalog, replace)
        if not plan:
            return AddResult([], skipped, seconds=time.perf_counter() - started, index=None)
        texts = [_text_path(seeds_dir, doc_id) for doc_id, _, _ in plan]
        with _restore_on_error([*texts, seeds_dir / CATALOG_NAME]):
            for path, (_, ext, entry) in zip(texts, plan):
                write_atomic(path, "\n".join(ext.paragraphs) + "\n")
                catalog[path.name] = entry
            write_atomic(seeds_dir / CATALOG_NAME, catalog_json(catalog))
            build = refresh_index(seeds_dir, index_dir, embedder, progress, approximate_from)
    added = [
        StoredDocument(doc_id, e["title"], e["paragraphs"], e["format"], e["source_file"], e["sha256"], e["added_at"])
        for doc_id, _, e in plan
    ]
    return AddResult(added, skipped, embedded=_embedded(build), seconds=time.perf_counter() - started, index=build)


def _embedded(build: Path | None) -> int:
    if build is None:
        return 0
    return json.loads((build / "manifest.json").read_text(encoding="utf-8")).get("embedded", 0)


def remove_documents(
    doc_ids: Sequence[str], seeds_dir: Path, index_dir: Path, embedder: Embedder, *, progress: bool = False, approximate_from: int | None = None
) -> Path | None:
    """Remove documents (text and catalog entry) and refresh the index so that their chunks are gone.

    Raises:
        IngestError: `not_found` for an unknown id; nothing is removed then.
    """
    seeds_dir = Path(seeds_dir)
    with store_lock(seeds_dir):
        catalog = read_catalog(seeds_dir)
        texts = [_text_path(seeds_dir, doc_id) for doc_id in doc_ids]
        missing = [p.stem for p in texts if not p.is_file()]
        if missing:
            raise IngestError(f"no document {', '.join(missing)} in {seeds_dir}; `qa documents` lists them", "not_found")
        with _restore_on_error([*texts, seeds_dir / CATALOG_NAME]):
            for path in texts:
                path.unlink()
                catalog.pop(path.name, None)
            write_atomic(seeds_dir / CATALOG_NAME, catalog_json(catalog))
            return refresh_index(seeds_dir, index_dir, embedder, progress, approximate_from)
