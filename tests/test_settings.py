"""Settings: defaults → qa.toml → QA_* → options, every value checked against its field's type."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.settings import Settings, load_settings


def test_defaults_ignore_the_environment(monkeypatch):
    monkeypatch.setenv("QA_TOP_K", "9")
    assert Settings().top_k == 5  # Settings() is the defaults: only load_settings reads QA_*
    assert load_settings({}).top_k == 5 and load_settings({"QA_TOP_K": "9"}).top_k == 9


def test_file_then_environment(tmp_path):
    config = tmp_path / "qa.toml"
    config.write_text('top_k = 7\nseeds_dir = "docs"\nrequest_timeout_s = 5\n', encoding="utf-8")
    settings = load_settings({"QA_CONFIG": str(config), "QA_TOP_K": "3", "QA_PROMPTS_DIR": ""})
    assert (settings.top_k, settings.seeds_dir, settings.request_timeout_s, settings.prompts_dir) == (3, Path("docs"), 5.0, None)


@pytest.mark.parametrize("variable, value", [("QA_TOP_K", "five"), ("QA_GENERATOR", "gpt"), ("QA_REQUEST_TIMEOUT_S", "soon")])
def test_a_wrong_value_names_its_variable(variable, value):
    with pytest.raises(ValueError, match=f"{variable}='{value}'"):
        load_settings({variable: value})


def test_maybe_is_not_a_yes_or_no():
    class Flagged(Settings):
        verbose: bool = False

    assert load_settings({"QA_VERBOSE": "yes"}, settings_cls=Flagged).verbose is True
    assert load_settings({"QA_VERBOSE": "0"}, settings_cls=Flagged).verbose is False
    with pytest.raises(ValueError, match="QA_VERBOSE='maybe'"):
        load_settings({"QA_VERBOSE": "maybe"}, settings_cls=Flagged)


def test_file_errors_name_the_file_and_key(tmp_path):
    config = tmp_path / "qa.toml"
    config.write_text("top_kk = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"qa.toml: unknown setting top_kk; known: .*top_k"):
        load_settings({"QA_CONFIG": str(config)})
    config.write_text('port = "high"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"qa.toml: port = 'high'"):
        load_settings({"QA_CONFIG": str(config)})


def test_replace_checks_and_keeps_the_rest():
    base = Settings(top_k=8)
    changed = base.replace(port="8000", seeds_dir="elsewhere")
    assert (changed.port, changed.seeds_dir, changed.top_k, base.port) == (8000, Path("elsewhere"), 8, 7860)
    with pytest.raises(ValueError):
        base.replace(port="high")
    with pytest.raises(ValueError):
        base.replace(no_such_setting=1)
    with pytest.raises(Exception):
        base.top_k = 3  # frozen
