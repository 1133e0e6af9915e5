"""Model folders in the cache: converted once from a verified source, checked, rebuilt when stale.

`prepare_model(name_or_path, cache_dir)` turns a model reference into a folder that transformers
loads: a bundled name (`qa.sources`: GGUF parts assembled, sha256 checked, de-quantized once into
float32 safetensors under `cache_dir/models/<name>/`), a `.gguf` file (the same, into
`cache_dir/models/gguf-<stem>/`), a local folder (as-is) or a hub id. Every entry is written under
a temporary name and renamed (`qa.files`) and carries what it was made from (a marker file written
last); a half-written, stale or foreign entry is rebuilt, never used.

`qa.int8_files.prepare_int8` then quantizes it once into the file that runs. Only that file runs,
so `qa models` drops the float32 weights of a folder converted here (`drop_weights`: 2.5 GB for
the 0.5B model; config and tokenizer stay). Whatever needs them again (`quantize = "none"`,
`qa bench`'s naive side, a stale int8 file) asks `prepare_model(..., weights=True)` or
`restore_weights`, which convert them again from the verified source.

Left out: downloading anything during a request (call this at start-up), and keeping the Q4
weights quantized (transformers de-quantizes them; `qa.int8layers` re-quantizes to int8).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .files import TEMP_PREFIX, atomic_path, exclusive_lock, remove_leftovers, write_atomic
from .sources import BUNDLED_MODELS, BundledModel, ModelError, assemble_gguf, convert_gguf, fetch_from_hub, find_parts, sha256_file  # noqa: F401 - BundledModel re-exported

MARKER_FILE = "qa-model.json"
MARKER_FORMAT = 1  # bump when the layout of a converted model directory changes


# --------------------------------------------------------------------------- converted model folders


def read_marker(model_dir: Path) -> dict | None:
    """The marker of a converted model directory, or None when absent or unreadable."""
    try:
        data = json.loads((Path(model_dir) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def has_weights(model_dir: Path) -> bool:
    """Does the folder hold its float32 weights (not dropped by `drop_weights`)?"""
    return any(Path(model_dir).glob("*.safetensors")) or any(Path(model_dir).glob("*.bin"))


def _is_valid(model_dir: Path, source_sha256: str, weights: bool = True) -> bool:
    marker = read_marker(model_dir)
    return (
        marker is not None
        and marker.get("format") == MARKER_FORMAT
        and marker.get("source_sha256") == source_sha256
        and (model_dir / "config.json").is_file()
        and (not weights or any(model_dir.glob("*.safetensors")))
    )


def _build_entry(
    target: Path,
    source_sha256: str,
    make_gguf: Callable[[Path], Path],  # (work folder) -> a .gguf file
    marker_extra: dict,
    progress: bool,
) -> None:
    """Convert into a temporary folder beside `target`, write the marker last, then rename it in."""
    remove_leftovers(target.parent, target.name)  # left by a killed process (we hold the lock)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{target.name}.gguf-", dir=target.parent) as work:
        with atomic_path(target) as out:
            convert_gguf(make_gguf(Path(work)), out, progress=progress)
            marker = {
                "format": MARKER_FORMAT,
                "source_sha256": source_sha256,
                "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "convert_seconds": round(time.perf_counter() - started, 1),
                **marker_extra,
            }
            write_atomic(out / MARKER_FILE, json.dumps(marker, indent=2, ensure_ascii=False))
            if target.exists():  # stale or half-written: moved aside (a folder cannot be replaced), deleted
                old = target.with_name(f"{TEMP_PREFIX}{target.name}.old")
                os.replace(target, old)
                shutil.rmtree(old, ignore_errors=True)


def prepare_model(name_or_path: str | Path, cache_dir: Path, progress: bool = True, *, force: bool = False, weights: bool = True) -> Path:
    """A directory that `from_pretrained` can load, converted and cached once if needed.

    Args:
        name_or_path: a bundled name (`BUNDLED_MODELS`), a `.gguf` file, a model directory, or a
            hub model id.
        cache_dir: where converted models live (`<cache_dir>/models/<name>/`).
        progress: show progress bars while assembling and converting.
        force: rebuild the cache entry even when it looks valid.
        weights: the float32 weights are needed (converted again when `drop_weights` removed
            them); False: config and tokenizer are enough (the int8 file runs).

    Raises:
        ModelError: missing part packages, checksum mismatch, conversion failure, or a hub id that
            cannot be fetched (e.g. offline).
    """
    ref = str(name_or_path)
    models_dir = Path(cache_dir) / "models"

    if ref in BUNDLED_MODELS:
        spec = BUNDLED_MODELS[ref]
        target = models_dir / spec.name
        if not force and _is_valid(target, spec.sha256, weights):
            return target
        find_parts(spec)  # fail fast with the pip command before taking the lock
        with exclusive_lock(models_dir / f".{spec.name}.lock"):
            if force or not _is_valid(target, spec.sha256, weights):  # another process may have finished it
                _build_entry(
                    target,
                    spec.sha256,
                    lambda work: assemble_gguf(spec.name, work / f"{spec.name}.gguf", progress=progress),
                    {"source": f"{spec.distribution.format(i='1..' + str(spec.parts))}=={spec.version}"},
                    progress,
                )
        return target

    path = Path(ref).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return _prepare_gguf_file(path, models_dir, progress=progress, force=force, weights=weights)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is a directory but holds no config.json: not a transformers model directory")
        return path
    looks_like_path = ref.startswith((".", "/", "~")) or ref.endswith(".gguf") or ref.count("/") > 1
    if path.exists() or looks_like_path:
        raise ModelError(
            f"model {ref!r}: no such model directory or .gguf file. Bundled models: "
            f"{', '.join(BUNDLED_MODELS)}; or give a hub id like 'Qwen/Qwen2.5-0.5B-Instruct'."
        )
    return fetch_from_hub(ref, progress=progress)


def _prepare_gguf_file(path: Path, models_dir: Path, *, progress: bool, force: bool, weights: bool = True) -> Path:
    """Convert a user-supplied .gguf file; the cache entry is keyed by the file's checksum."""
    path = path.resolve()
    stat = path.stat()
    target = models_dir / f"gguf-{path.stem}"
    marker = read_marker(target)
    # Re-hashing a multi-GB file on every start would cost seconds: trust size + mtime.
    if (
        not force
        and marker is not None
        and marker.get("source_path") == str(path)
        and marker.get("source_size") == stat.st_size
        and marker.get("source_mtime_ns") == stat.st_mtime_ns
        and _is_valid(target, marker.get("source_sha256", ""), weights)
    ):
        return target
    sha = sha256_file(path, progress=progress)
    with exclusive_lock(models_dir / f".{target.name}.lock"):
        if force or not _is_valid(target, sha, weights):
            _build_entry(
                target,
                sha,
                lambda build: path,
                {"source_path": str(path), "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns},
                progress,
            )
        else:  # same content, new mtime: refresh the marker's stat fields
            data = read_marker(target) or {}
            data.update(source_path=str(path), source_size=stat.st_size, source_mtime_ns=stat.st_mtime_ns)
            write_atomic(target / MARKER_FILE, json.dumps(data, indent=2, ensure_ascii=False))
    return target


# --------------------------------------------------------------------------- float32 weights


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when missing, unreadable or not an object (e.g. a config.json)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def restore_weights(model_dir: Path, progress: bool = False) -> Path:
    """Make sure a folder holds its float32 weights, converting them again from its source if dropped."""
    model_dir = Path(model_dir)
    if has_weights(model_dir):
        return model_dir
    marker = read_marker(model_dir) or {}
    cache_dir = model_dir.parent.parent  # <cache_dir>/models/<name>
    if model_dir.name in BUNDLED_MODELS:
        return prepare_model(model_dir.name, cache_dir, progress=progress, weights=True)
    if marker.get("source_path"):
        return prepare_model(marker["source_path"], cache_dir, progress=progress, weights=True)
    raise ModelError(f"{model_dir} holds no weights and does not say where they came from; run: qa models --force")


def drop_weights(model_dir: Path) -> int:
    """Delete the float32 weights of a folder this module converted (made again on demand); bytes freed.

    A folder without our marker (your own model folder, a hub download) is never touched.
    """
    model_dir = Path(model_dir)
    if read_marker(model_dir) is None:
        return 0
    freed = 0
    with exclusive_lock(model_dir.parent / f".{model_dir.name}.lock"):
        for weights in sorted(model_dir.glob("*.safetensors")):
            freed += weights.stat().st_size
            weights.unlink()
    return freed
