"""Claim checks: a figure keeps its measure, its range and its qualifier (fast)."""

from __future__ import annotations

from qa.claims import claim_problems, measure_problems, range_problems, ranges_in

SOURCE = "地区生产总值达到4015亿元，增长5.8%；城乡居民人均可支配收入分别达到76088元和47455元，占比提高到70.6%，创新指数居全省第3"
TARGETS = "地区生产总值增长5%—5.5%，城镇调查失业率5.5%以内，居民收入增长6%左右"


def test_a_total_given_as_a_per_capita_value_is_rejected():
    assert measure_problems("人均GDP是4015亿元", SOURCE)
    assert measure_problems("地区生产总值增长4015亿元", SOURCE)
    assert not measure_problems("地区生产总值达到4015亿元，增长5.8%", SOURCE)


def test_a_per_capita_value_in_a_list_keeps_its_measure():
    assert not measure_problems("农村居民人均可支配收入47455元", SOURCE)


def test_share_and_rank_must_be_the_sources():
    assert measure_problems("排名第4015", SOURCE)
    assert not measure_problems("占比70.6%", SOURCE)
    assert not measure_problems("创新指数全省第3", SOURCE)


def test_a_range_may_not_be_shortened():
    assert range_problems("增长目标为5.5%", "地区生产总值增长5%—5.5%")
    assert not range_problems("增长5%—5.5%", TARGETS)
    assert not range_problems("增长5%到5.5%", TARGETS)


def test_a_qualifier_may_not_be_dropped_but_another_occurrence_may_match():
    assert range_problems("收入增长6%", TARGETS)
    assert not range_problems("收入增长6%左右", TARGETS)
    assert not range_problems("失业率5.5%以内", TARGETS)  # 5.5 is also a range end, but this occurrence is not
    assert range_problems("失业率5.5%", TARGETS)


def test_year_spans_are_not_ranges():
    assert ranges_in("2024—2026年行动计划") == []
    assert ranges_in("增长5%—5.5%") == [("5", "5.5")]


def test_claim_problems_combine_both():
    assert not claim_problems("地区生产总值增长5%—5.5%", TARGETS)
    assert len(claim_problems("人均收入增长6%", TARGETS)) == 2


def test_full_width_figures_are_the_same_figures():
    assert measure_problems("人均GDP是４０１５亿元", SOURCE)
    assert not measure_problems("农村居民人均可支配收入４７４５５元", SOURCE)
