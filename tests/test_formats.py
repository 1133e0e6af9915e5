"""Reading files by format: the seed written as .txt, .md, .docx and .pdf (two PDF layouts) reads
back as the same 65 paragraphs; tables, markup, boilerplate and page numbers are handled."""

from __future__ import annotations

import pytest

from documents import markdown_text, seed_lines, write_docx, write_pdf
from qa.formats import IngestError, extract, file_format, join_lines


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return seed_lines()


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory, lines):
    """The seed in every format, written once for this module."""
    folder = tmp_path_factory.mktemp("formats")
    files = {
        "txt": folder / "seed.txt",
        "md": folder / "seed.md",
        "docx": write_docx(lines, folder / "seed.docx"),
        "pdf-spaced": write_pdf(lines, folder / "seed-spaced.pdf", style="spaced"),
        "pdf-indented": write_pdf(lines, folder / "seed-indented.pdf", style="indented"),
    }
    files["txt"].write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    files["md"].write_text(markdown_text(lines), encoding="utf-8")
    return files


@pytest.mark.parametrize("kind", ["txt", "md", "docx", "pdf-spaced", "pdf-indented"])
def test_the_seed_in_every_format_gives_the_same_65_paragraphs(seed_files, lines, kind):
    path = seed_files[kind]
    extracted = extract(path.name, path.read_bytes())
    assert len(lines) == 65
    mismatches = [(n, a, b) for n, (a, b) in enumerate(zip(lines, extracted.paragraphs), start=1) if a != b]
    assert not mismatches, mismatches[:2]
    assert extracted.paragraphs == tuple(lines)
    assert extracted.format == kind.split("-")[0]


@pytest.mark.parametrize("kind", ["pdf-spaced", "pdf-indented"])
def test_pdf_paragraphs_keep_the_page_they_start_on(seed_files, lines, kind):
    import pypdfium2

    path = seed_files[kind]
    pages = extract(path.name, path.read_bytes()).pages
    assert pages is not None and len(pages) == 65
    assert pages[0] == 1 and list(pages) == sorted(pages)
    assert pages[-1] == len(pypdfium2.PdfDocument(str(path)))
    assert len(set(pages)) > 5  # the seed fills many pages


def test_pdf_title_comes_from_its_metadata(seed_files, lines):
    path = seed_files["pdf-spaced"]
    assert extract(path.name, path.read_bytes()).title == lines[0]


def test_docx_table_rows_are_paragraphs_with_cells_joined(tmp_path):
    table = [["指标", "2023年", "增长"], ["地区生产总值", "4015亿元", "5.8%"], ["", "", ""]]
    path = write_docx(["2024年报告", "各位代表：", "一、主要指标"], tmp_path / "t.docx", table=table)
    extracted = extract(path.name, path.read_bytes())
    assert extracted.paragraphs == ("2024年报告", "各位代表：", "一、主要指标", "指标 | 2023年 | 增长", "地区生产总值 | 4015亿元 | 5.8%")
    assert extracted.title == "2024年报告"


def test_docx_merged_cells_are_read_once(tmp_path):
    import docx

    document = docx.Document()
    grid = document.add_table(rows=2, cols=3)
    grid.cell(0, 0).merge(grid.cell(0, 2)).text = "合并的表头"
    for c, text in enumerate(["甲", "乙", "丙"]):
        grid.cell(1, c).text = text
    document.save(tmp_path / "m.docx")
    assert extract("m.docx", (tmp_path / "m.docx").read_bytes()).paragraphs == ("合并的表头", "甲 | 乙 | 丙")


def test_markdown_markup_is_removed():
    text = (
        "# 标题 *一*\n\n正文有**加粗**、`代码`和[链接](http://x)。\n第二行接上。\n\n"
        "- 列表一\n- 列表二\n\n| 指标 | 数值 |\n|---|---|\n| GDP | 4015亿元 |\n\n"
        "<div>网页代码</div>\n\n```\n代码行\n```\n"
    )
    paragraphs = extract("a.md", text.encode()).paragraphs
    assert paragraphs == ("标题 一", "正文有加粗、代码和链接。第二行接上。", "列表一", "列表二", "指标 | 数值", "GDP | 4015亿元", "代码行")


def test_html_main_text_without_navigation_or_footer(lines):
    body = "".join(f"<h2>{line}</h2>" if line.startswith("一、") else f"<p>{line}</p>" for line in lines[:12])
    page = (
        "<html><head><title>湖州市人民政府</title></head><body>"
        "<nav><a href='/'>首页</a> | <a href='/news'>新闻中心</a> | <a href='/open'>政务公开</a></nav>"
        f"<header>湖州市人民政府门户网站</header><article>{body}"
        "<table><tr><th>指标</th><th>数值</th></tr><tr><td>地区生产总值</td><td>4015亿元</td></tr></table></article>"
        "<footer>版权所有 湖州市人民政府 浙ICP备05000000号</footer></body></html>"
    )
    paragraphs = extract("page.html", page.encode("utf-8")).paragraphs
    assert paragraphs == (*lines[:12], "指标 | 数值", "地区生产总值 | 4015亿元")


def test_gb18030_text_is_read():
    assert extract("gbk.txt", "各位代表：\n一、工作回顾\n".encode("gb18030")).paragraphs == ("各位代表：", "一、工作回顾")


def test_lines_are_joined_as_typeset():
    assert join_lines(["国内生产", "总值4015亿", "元，EBK公", "司"]) == "国内生产总值4015亿元，EBK公司"
    assert join_lines(["an English", "sentence"]) == "an English sentence"


@pytest.mark.parametrize("name", ["a.doc", "a.exe", "noext", "a.pdf.zip"])
def test_unsupported_types_are_named(name):
    with pytest.raises(IngestError) as info:
        file_format(name)
    assert info.value.code == "unsupported_type"
    assert ".docx" in str(info.value)


def test_the_example_reports_read_back_unchanged():
    from conftest import ROOT
    from qa.corpus import load_corpus

    folder = ROOT / "examples" / "provincial-2026"
    docs = load_corpus(folder)
    assert len(docs) == 30
    for doc in docs:
        path = folder / f"{doc.id}.txt"
        assert extract(path.name, path.read_bytes()).paragraphs == tuple(p.text for p in doc.paragraphs), doc.id
