"""A plain (non-editable) `pip install .` ships the prompts and data files and answers a question.

The package is installed with `--no-deps --target` into a temporary folder (the dependencies are
this environment's), then used from a process whose working directory is not the checkout, so the
templates and data files can only come from the installed package (importlib.resources).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from qa.settings import project_root

ROOT = project_root()

CHECK = r"""
import json, sys
from pathlib import Path
import qa, qa.lexicon, qa.prompts
target = Path(sys.argv[1]).resolve()
assert Path(qa.__file__).resolve().is_relative_to(target), qa.__file__
template = qa.prompts.prompts_dir().joinpath("refusal.txt")
assert Path(str(template)).resolve().is_relative_to(target), template
print(json.dumps({"refusal": qa.prompts.load_template("refusal").render(), "lexicon": bool(qa.lexicon.lexicon())}))
"""

SEED = "2024年示例市政府工作报告\n一、2023年工作回顾\n全市地区生产总值达到4015亿元，增长5.8%。\n新开工项目2473个。\n"


@pytest.mark.slow
def test_pip_install_ships_prompts_and_data_and_answers(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("qa", "prompts"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    assert (target / "qa" / "prompt_templates" / "system.txt").is_file()
    assert any((target / "qa" / "data").glob("*.toml"))
    work = tmp_path / "work"
    (work / "seeds").mkdir(parents=True)
    (work / "seeds" / "example.txt").write_text(SEED, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(PYTHONPATH=str(target), QA_GENERATOR="extractive", QA_SEEDS_DIR="seeds", QA_INDEX_DIR="index", TQDM_DISABLE="1")

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert json.loads(run("-c", CHECK, str(target))) == {"refusal": "文档中没有相关信息。", "lexicon": True}
    run("-m", "qa", "index")
    answer = json.loads(run("-m", "qa", "ask", "--json", "2023年地区生产总值是多少？").splitlines()[-1])
    assert "4015" in answer["answer"] and answer["citations"], answer
