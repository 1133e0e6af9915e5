"""The `qa` command: index, search and eval-retrieval, in process (fake embedder) and as a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from conftest import DEV_FILE, SEED_ID, SEED_NAME
from qa.cli import main

HIT_KEYS = {"doc", "paragraph", "score", "text", "sentences"}


def run_qa(*args, input=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "qa", *map(str, args)],
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def check_search_record(record: dict, question: str, k: int) -> None:
    assert record["question"] == question
    hits = record["hits"]
    assert len(hits) == k
    for hit in hits:
        assert HIT_KEYS <= set(hit)
        assert hit["doc"] == SEED_ID
        assert 1 <= hit["paragraph"] <= 65
        assert isinstance(hit["sentences"], list) and all(s in hit["text"] for s in hit["sentences"])
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.fixture
def indexed(tmp_seeds, tmp_path, patch_fake_embedder, capsys):
    """Seeds and an index built with `qa index` (fake embedder); returns the common options."""
    opts = ["--seeds", str(tmp_seeds), "--index", str(tmp_path / "index")]
    assert main(["index", *opts]) == 0
    out = capsys.readouterr().out
    assert "indexed 1 document(s), 65 paragraphs" in out
    return opts


def test_index_then_up_to_date_then_rebuild(indexed, capsys, patch_fake_embedder):
    assert main(["index", *indexed]) == 0
    assert "is up to date (65 paragraphs, 1 document(s))" in capsys.readouterr().out
    patch_fake_embedder.encoded = []
    assert main(["index", "--rebuild", *indexed]) == 0
    assert "indexed" in capsys.readouterr().out
    assert patch_fake_embedder.encoded  # everything embedded again


def test_search_json(indexed, capsys):
    questions = ["2023年湖州市地区生产总值是多少？", "今年的主要预期目标是什么？"]
    assert main(["search", "--json", *indexed, *questions]) == 0
    captured = capsys.readouterr()
    records = json_lines(captured.out)
    assert len(records) == 2 == len(captured.out.strip().splitlines())
    for record, question in zip(records, questions):
        check_search_record(record, question, 5)


def test_search_k(indexed, capsys):
    assert main(["search", "--json", "-k", "2", *indexed, "湖州"]) == 0
    (record,) = json_lines(capsys.readouterr().out)
    check_search_record(record, "湖州", 2)


def test_search_k_below_one_is_an_error(indexed, capsys):
    assert main(["search", "-k", "0", *indexed, "湖州"]) == 1
    assert capsys.readouterr().err.startswith("qa: error: -k must be at least 1")


def test_search_text_output(indexed, capsys):
    assert main(["search", *indexed, "地区生产总值"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("? 地区生产总值")
    assert "1. 2024年湖州市政府工作报告 第" in out


def test_search_reads_stdin(indexed, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("第一个问题：地区生产总值\n\n  \n第二个问题：研发投入\n"))
    assert main(["search", "--json", "-k", "1", *indexed, "-"]) == 0
    records = json_lines(capsys.readouterr().out)
    assert [r["question"] for r in records] == ["第一个问题：地区生产总值", "第二个问题：研发投入"]


@pytest.mark.parametrize("questions", [[""], ["  "], ["湖州", ""], ["湖州", "-"]])
def test_empty_or_misplaced_question_is_an_error(indexed, capsys, questions):
    assert main(["search", *indexed, *questions]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert err.startswith("qa: error: ") and "\n" not in err


@pytest.mark.parametrize("argv", [["search", "--bogus", "x"], ["nonsense"], [], ["search"], ["search", "-k", "two", "x"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: qa" in capsys.readouterr().err


def test_missing_index_mentions_qa_index(tmp_seeds, tmp_path, patch_fake_embedder, capsys):
    assert main(["search", "--seeds", str(tmp_seeds), "--index", str(tmp_path / "none"), "湖州"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("qa: error: ") and "`qa index`" in err and "\n" not in err


def test_stale_index_mentions_qa_index(indexed, tmp_seeds, capsys):
    path = tmp_seeds / SEED_NAME
    path.write_text(path.read_text(encoding="utf-8") + "\n新的一段。\n", encoding="utf-8")
    assert main(["search", *indexed, "湖州"]) == 1
    err = capsys.readouterr().err
    assert "stale" in err and "`qa index`" in err


@pytest.mark.parametrize("command", [["index"], ["search", "湖州"], ["eval-retrieval", str(DEV_FILE)]])
def test_broken_seed_exits_1(tmp_seeds, tmp_path, patch_fake_embedder, capsys, command):
    (tmp_seeds / "gbk.txt").write_bytes("二、2024年工作安排".encode("gbk"))
    argv = [command[0], "--seeds", str(tmp_seeds), "--index", str(tmp_path / "index"), *command[1:]]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("qa: error: ") and "not UTF-8" in err and "\n" not in err


def test_missing_seeds_folder_exits_1(tmp_path, capsys):
    assert main(["index", "--seeds", str(tmp_path / "nope"), "--index", str(tmp_path / "index")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_seeds_and_index_from_environment(tmp_seeds, tmp_path, patch_fake_embedder, capsys, monkeypatch):
    monkeypatch.setenv("QA_SEEDS_DIR", str(tmp_seeds))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "env-index"))
    assert main(["index"]) == 0
    assert (tmp_path / "env-index" / "CURRENT").is_file()


def test_eval_retrieval_json(indexed, capsys):
    assert main(["eval-retrieval", "--json", *indexed, str(DEV_FILE)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert {"R@1", "R@3", "R@5", "MRR", "questions"} <= set(metrics)
    assert 0 <= metrics["R@1"] <= metrics["R@3"] <= metrics["R@5"] <= 1
    assert metrics["questions"] > 0


def test_eval_retrieval_table_and_bad_file(indexed, capsys, tmp_path):
    assert main(["eval-retrieval", *indexed, str(DEV_FILE)]) == 0
    assert "R@1" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"}\nnot json\n', encoding="utf-8")
    assert main(["eval-retrieval", *indexed, str(bad)]) == 1
    assert "bad.jsonl:2" in capsys.readouterr().err


# --- the real thing, as a subprocess -----------------------------------------------------------


def test_subprocess_usage_error():
    result = run_qa("search", "--no-such-option", "x", timeout=60)
    assert result.returncode == 2
    assert "usage: qa" in result.stderr


@pytest.mark.slow
def test_subprocess_search_stdin_on_real_index(real_index):
    seeds, index_dir = real_index
    questions = "2023年湖州市地区生产总值是多少？\n\n2024年研发投入强度的目标是多少？\n"
    result = run_qa("search", "--json", "-k", "3", "--seeds", seeds, "--index", index_dir, "-", input=questions)
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    assert len(records) == 2
    check_search_record(records[0], "2023年湖州市地区生产总值是多少？", 3)
    check_search_record(records[1], "2024年研发投入强度的目标是多少？", 3)
    assert records[0]["hits"][0]["paragraph"] == 4
    assert records[1]["hits"][0]["paragraph"] == 21


@pytest.mark.slow
def test_subprocess_missing_index_and_empty_question(tmp_seeds, tmp_path):
    result = run_qa("search", "--seeds", tmp_seeds, "--index", tmp_path / "none", "湖州")
    assert result.returncode == 1
    assert result.stderr.startswith("qa: error: ") and "`qa index`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_qa("search", "--seeds", tmp_seeds, "--index", tmp_path / "none", "")
    assert result.returncode == 1 and result.stderr.startswith("qa: error: empty question")


@pytest.mark.slow
def test_real_index_is_up_to_date_and_eval_retrieval(real_index, capsys):
    seeds, index_dir = real_index
    opts = ["--seeds", str(seeds), "--index", str(index_dir)]
    assert main(["index", *opts]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(["eval-retrieval", "--json", *opts, str(DEV_FILE)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["R@1"] >= 0.96 and metrics["R@3"] == 1.0
    assert set(metrics) >= {"R@1", "R@3", "R@5", "MRR"}
