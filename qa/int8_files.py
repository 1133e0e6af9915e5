"""The int8 model files: made once from a converted model folder (`qa.models`), checked, rebuilt when stale.

`prepare_int8(model_dir, cache_dir)` quantizes a model once: for Qwen2/Llama-style models into one
safetensors file of int8 matrices that `qa.fastlm.LeanDecoder` runs (`load_lean_int8`), for others
into a pickled int8 transformers model (`load_int8_model`). Each file carries what it was made from
(`int8_key`: the source checksum, torch, transformers, the quantized engine); a stale or foreign
file is rebuilt, never used. Files are written under a temporary name and renamed (`qa.files`).

Left out: converting or fetching models (`qa.models`) and running them (`qa.local_generator`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .files import atomic_path, write_atomic
from .models import drop_weights, read_json, read_marker, restore_weights

INT8_CACHE_FORMAT = 3  # bump when what `load_int8_model` saves changes, or `int8_key`
LEAN_FORMAT = "qa-lean-int8/1"  # what `save_lean_int8` writes; bump when the layout changes


def lean_supported(model_dir: Path) -> bool:
    """Does the model's config.json describe an architecture `qa.fastlm.LeanDecoder` implements?"""
    from .fastlm import LeanDecoder

    return LeanDecoder.supports_config(SimpleNamespace(**read_json(Path(model_dir) / "config.json")))


def int8_key(model_dir: Path) -> dict[str, Any]:
    """What an int8 file must match: the source weights, torch, transformers and the quantized engine.

    For a folder converted by `qa.models`, the source is the checksum of the verified GGUF it was made
    from (so the int8 file stays current when the float32 weights are dropped); for any other
    folder, its weight files' names, sizes and times.
    """
    import torch
    import transformers

    model_dir = Path(model_dir).resolve()
    source_sha256 = (read_marker(model_dir) or {}).get("source_sha256")
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    source = {"source_sha256": source_sha256} if source_sha256 else {"weights": [[w.name, w.stat().st_size, w.stat().st_mtime_ns] for w in weights]}
    return {
        "format": INT8_CACHE_FORMAT,
        "model_dir": str(model_dir),
        **source,
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


def int8_current(model_dir: Path, int8_file: Path) -> bool:
    """Is `int8_file` (lean or pickled) made from `model_dir` as it is now?"""
    key = int8_key(model_dir)
    if int8_file.name.endswith(".lean-int8.safetensors"):
        return saved_key(int8_file) == key
    return int8_file.is_file() and read_json(int8_file.with_name(int8_file.name + ".json")) == key


def prepare_int8(model_dir: Path, cache_dir: Path, *, lean: bool = True, force: bool = False, keep_weights: bool = True) -> Path:
    """Quantize `model_dir` once into the file the generator loads (the lean file when the
    architecture allows it, else a pickled transformers model); returns the file.

    Float32 weights that were dropped are converted again first when the file must be (re)made.
    `keep_weights=False` (`qa models`) drops them afterwards: only the int8 file runs.
    """
    model_dir = Path(model_dir)
    int8_cache = int8_cache_path(model_dir, cache_dir)
    lean = lean and lean_supported(model_dir)
    target = lean_cache_path(int8_cache) if lean else int8_cache
    if force or not int8_current(model_dir, target):
        restore_weights(model_dir)
        if lean:
            load_lean_int8(model_dir, target)
        else:
            load_int8_model(model_dir, int8_cache)
    if not keep_weights and int8_current(model_dir, target):
        drop_weights(model_dir)
    return target
