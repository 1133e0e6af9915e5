"""Model files: every file the engine keeps in its cache folder, made once, checked, rebuilt when stale.

`prepare_model(name_or_path, cache_dir)` turns a model reference into a folder that transformers
loads: a bundled name (`qa.sources`: GGUF parts assembled, sha256 checked, de-quantized once into
float32 safetensors under `cache_dir/models/<name>/`), a `.gguf` file (the same, into
`cache_dir/models/gguf-<stem>/`), a local folder (as-is) or a hub id.

`prepare_int8(model_dir, cache_dir)` then quantizes it once: for Qwen2/Llama-style models into one
safetensors file of int8 matrices that `qa.fastlm.LeanDecoder` runs (`load_lean_int8`), for others
into a pickled int8 transformers model (`load_int8_model`). Every entry is written under a temporary
name and renamed (`qa.files`) and carries what it was made from (a marker file written last, or a
key in the file's metadata); a half-written, stale or foreign entry is rebuilt, never used.

Left out: downloading anything during a request (call this at start-up), and keeping the Q4
weights quantized (transformers de-quantizes them; `qa.int8layers` re-quantizes to int8).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from .files import TEMP_PREFIX, atomic_path, exclusive_lock, remove_leftovers, write_atomic
from .sources import BUNDLED_MODELS, BundledModel, ModelError, assemble_gguf, convert_gguf, fetch_from_hub, find_parts, sha256_file  # noqa: F401 - BundledModel re-exported

MARKER_FILE = "qa-model.json"
MARKER_FORMAT = 1  # bump when the layout of a converted model directory changes
INT8_CACHE_FORMAT = 2  # bump when what `load_int8_model` saves changes
LEAN_FORMAT = "qa-lean-int8/1"  # what `save_lean_int8` writes; bump when the layout changes


# --------------------------------------------------------------------------- converted model folders


def read_marker(model_dir: Path) -> dict | None:
    """The marker of a converted model directory, or None when absent or unreadable."""
    try:
        data = json.loads((Path(model_dir) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_valid(model_dir: Path, source_sha256: str) -> bool:
    marker = read_marker(model_dir)
    return (
        marker is not None
        and marker.get("format") == MARKER_FORMAT
        and marker.get("source_sha256") == source_sha256
        and (model_dir / "config.json").is_file()
        and any(model_dir.glob("*.safetensors"))
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


def prepare_model(name_or_path: str | Path, cache_dir: Path, progress: bool = True, *, force: bool = False) -> Path:
    """A directory that `from_pretrained` can load, converted and cached once if needed.

    Args:
        name_or_path: a bundled name (`BUNDLED_MODELS`), a `.gguf` file, a model directory, or a
            hub model id.
        cache_dir: where converted models live (`<cache_dir>/models/<name>/`).
        progress: show progress bars while assembling and converting.
        force: rebuild the cache entry even when it looks valid.

    Raises:
        ModelError: missing part packages, checksum mismatch, conversion failure, or a hub id that
            cannot be fetched (e.g. offline).
    """
    ref = str(name_or_path)
    models_dir = Path(cache_dir) / "models"

    if ref in BUNDLED_MODELS:
        spec = BUNDLED_MODELS[ref]
        target = models_dir / spec.name
        if not force and _is_valid(target, spec.sha256):
            return target
        find_parts(spec)  # fail fast with the pip command before taking the lock
        with exclusive_lock(models_dir / f".{spec.name}.lock"):
            if force or not _is_valid(target, spec.sha256):  # another process may have finished it
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
        return _prepare_gguf_file(path, models_dir, progress=progress, force=force)
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


def _prepare_gguf_file(path: Path, models_dir: Path, *, progress: bool, force: bool) -> Path:
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
        and _is_valid(target, marker.get("source_sha256", ""))
    ):
        return target
    sha = sha256_file(path, progress=progress)
    with exclusive_lock(models_dir / f".{target.name}.lock"):
        if force or not _is_valid(target, sha):
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


# --------------------------------------------------------------------------- int8 weights


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when missing, unreadable or not an object (e.g. a config.json)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def lean_supported(model_dir: Path) -> bool:
    """Does the model's config.json describe an architecture `qa.fastlm.LeanDecoder` implements?"""
    from .fastlm import LeanDecoder

    return LeanDecoder.supports_config(SimpleNamespace(**read_json(Path(model_dir) / "config.json")))


def int8_key(model_dir: Path) -> dict[str, Any]:
    """What an int8 file must match: the source weights, torch, transformers and the quantized engine."""
    import torch
    import transformers

    model_dir = Path(model_dir).resolve()
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    return {
        "format": INT8_CACHE_FORMAT,
        "model_dir": str(model_dir),
        "weights": [[w.name, w.stat().st_size, w.stat().st_mtime_ns] for w in weights],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "engine": torch.backends.quantized.engine,
    }


def int8_cache_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the int8 copy of `model_dir` is cached: `<cache_dir>/models/<name>-<hash>.int8.pt`."""
    model_dir = Path(model_dir).resolve()
    tag = hashlib.sha256(str(model_dir).encode("utf-8")).hexdigest()[:8]
    return Path(cache_dir) / "models" / f"{model_dir.name}-{tag}.int8.pt"


def lean_cache_path(int8_cache: str | Path) -> Path:
    """The lean decoder's int8 file next to the (transformers) int8 cache file: `<name>.lean-int8.safetensors`."""
    int8_cache = Path(int8_cache)
    stem = int8_cache.name[: -len(".int8.pt")] if int8_cache.name.endswith(".int8.pt") else int8_cache.name
    return int8_cache.with_name(stem + ".lean-int8.safetensors")


def load_int8_model(model_dir: Path, cache_file: Path | None):
    """The transformers model of `model_dir` with int8 linear layers, from `cache_file` when current.

    Quantizing costs 8–18 s on two cores; loading the quantized module saved by `torch.save`
    (memory-mapped) ~3.5 s, with bit-identical outputs. The file is a pickle this function wrote
    itself, next to a JSON key (`<file>.json`, written last); a stale, foreign or unreadable file is
    rebuilt. `cache_file=None`: quantize, cache nothing.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from .int8layers import quantize_linear_int8, split_rows

    key = int8_key(model_dir)
    if cache_file is not None:
        cache_file = Path(cache_file)
        key_file = cache_file.with_name(cache_file.name + ".json")
        if read_json(key_file) == key:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # mmap: the storages are read lazily (0.6 s faster, 500 MB less peak memory).
                    model = torch.load(cache_file, weights_only=False, map_location="cpu", mmap=True)
                return model.eval()
            except Exception:  # noqa: BLE001 - damaged: rebuilt below
                pass
    model = quantize_linear_int8(AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval())
    if cache_file is not None:
        model.lm_head = split_rows(model.lm_head)  # unpickles faster (see qa.int8layers)
        try:
            with atomic_path(cache_file) as tmp, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.save(model, tmp)
            write_atomic(key_file, json.dumps(key, indent=2))  # written last: marks it complete
        except OSError as exc:
            warnings.warn(f"could not cache the int8 model in {cache_file}: {exc}", RuntimeWarning, stacklevel=2)
    return model


def save_lean_int8(model, path: Path, key: dict[str, Any]) -> None:
    """Write an int8 dynamic-quantized Qwen2/Llama transformers model for `load_lean_int8`.

    One safetensors file: int8 matrices with their (scale, zero point), float norms and embeddings,
    and in its metadata the shape and `key` (what the file was made from, for staleness checks).
    """
    import torch
    from safetensors.torch import save_file

    from .fastlm import LeanDecoder, LeanShape, layer_linears
    from .int8layers import int8_weights

    if not LeanDecoder.supports(model):
        raise ValueError(f"LeanDecoder does not implement {type(model).__name__}")
    tensors: dict[str, Any] = {}

    def put_linear(name: str, module) -> None:
        ints, scale, zero_point, bias = int8_weights(module, name)
        tensors[f"{name}.int8"] = ints
        tensors[f"{name}.qparams"] = torch.tensor([scale, float(zero_point)], dtype=torch.float64)
        if bias is not None:
            tensors[f"{name}.bias"] = bias

    inner = model.model
    tensors["embed"] = inner.embed_tokens.weight.detach().contiguous()
    tensors["norm"] = inner.norm.weight.detach().contiguous()
    for i, layer in enumerate(inner.layers):
        tensors[f"layers.{i}.input_norm"] = layer.input_layernorm.weight.detach().contiguous()
        tensors[f"layers.{i}.post_norm"] = layer.post_attention_layernorm.weight.detach().contiguous()
        for part, module in layer_linears(layer).items():
            put_linear(f"layers.{i}.{part}", module)
    put_linear("lm_head", model.lm_head)
    shape = LeanShape.of(model.config)
    meta = {"format": LEAN_FORMAT, "shape": json.dumps(shape.__dict__), "key": json.dumps(key, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def saved_key(path: Path) -> dict[str, Any] | None:
    """The `key` a lean int8 file was written with; None when it is missing, foreign or unreadable."""
    try:
        from safetensors import safe_open

        with safe_open(os.fspath(path), framework="pt") as f:
            meta = f.metadata() or {}
        return json.loads(meta["key"]) if meta.get("format") == LEAN_FORMAT else None
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: the caller rebuilds it
        return None


def read_lean_int8(path: Path, *, workers: int = 2):
    """The `LeanDecoder` of a file written by `save_lean_int8`; ValueError when it is not one."""
    from safetensors import safe_open

    from .fastlm import LeanDecoder, LeanShape

    with safe_open(os.fspath(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != LEAN_FORMAT:
            raise ValueError(f"{path} is not a lean int8 file (format {meta.get('format')!r})")
        shape = LeanShape(**json.loads(meta["shape"]))
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    return LeanDecoder.from_tensors(shape, tensors, workers=workers)


def load_lean_int8(model_dir: Path, cache_file: Path | None, threads: int = 2):
    """The int8 `LeanDecoder` of `model_dir`, from `cache_file` when it is current, else built and cached.

    Building: quantize as `load_int8_model` does and save with `save_lean_int8` (~15 s, once).
    Loading: ~1.5 s on two cores, and no transformers model code is imported.
    """
    from .fastlm import LeanDecoder

    key = int8_key(model_dir)
    if cache_file is not None and saved_key(cache_file) == key:
        try:
            return read_lean_int8(cache_file, workers=threads)
        except Exception as exc:  # noqa: BLE001 - damaged: rebuilt below
            warnings.warn(f"rebuilding {cache_file}: {exc}", RuntimeWarning, stacklevel=2)
    model = load_int8_model(model_dir, None)
    if cache_file is None:
        return LeanDecoder.from_model(model)
    try:
        save_lean_int8(model, cache_file, key)
    except OSError as exc:
        warnings.warn(f"could not cache the int8 model in {cache_file}: {exc}", RuntimeWarning, stacklevel=2)
        return LeanDecoder.from_model(model)
    del model
    return read_lean_int8(cache_file, workers=threads)


def prepare_int8(model_dir: Path, cache_dir: Path, *, lean: bool = True) -> Path:
    """Quantize `model_dir` once into the file the generator loads (the lean file when the
    architecture allows it, else a pickled transformers model); returns the file."""
    int8_cache = int8_cache_path(model_dir, cache_dir)
    if lean and lean_supported(model_dir):
        load_lean_int8(Path(model_dir), lean_cache_path(int8_cache))
        return lean_cache_path(int8_cache)
    load_int8_model(Path(model_dir), int8_cache)
    return int8_cache
