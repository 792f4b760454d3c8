"""docs/mdms.md states the VEE rule catalogue, the version precedence and the edit reason
codes; the code is their one source of truth, so the document is checked against it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smame.mdms.edit import EDIT_REASONS
from smame.mdms.vee.config import RULE_FIELDS, RULE_REASONS, ChannelRules, default_rules
from smame.mdms.vee.precedence import DEFAULT_PRECEDENCE
from smame.mdms.vee.reasons import Action, Reason
from smame.readings import CHANNELS, Period, Quantity

DOC = (Path(__file__).parents[2] / "docs" / "mdms.md").read_text(encoding="utf-8")


def table_rows(heading: str, first_cell: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table after ``heading`` whose header row
    starts with ``first_cell`` (indented tables in lists included)."""
    lines = [line.strip() for line in DOC[DOC.index(heading):].splitlines()]
    start = next(k for k, line in enumerate(lines)
                 if line.startswith("|") and line.strip("| ").startswith(first_cell))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


RULES = {re.fullmatch(r"`(\w+)`", row[0]).group(1): row
         for row in table_rows("## VEE rules", "rule") if row[0].startswith("`")}


def channel_class(code: int) -> str:
    """The class of channel the catalogue's default column names exceptions for."""
    info = CHANNELS[code]
    if info.quantity is Quantity.VOLTAGE:
        return "voltage"
    if info.period is Period.REGISTER:
        return "registers"
    if info.period is Period.INSTANT:
        return "instantaneous values"
    if info.quantity is Quantity.ACTIVE_EXPORT:
        return "export"
    return "intervals"


def documented_default(cell: str) -> tuple[Action, dict[str, Action]]:
    """``FAIL (OFF for registers, voltage; WARN for export)`` → the base action and the
    exceptions by channel class; a parenthesis without "for" is a remark."""
    match = re.fullmatch(r"(OFF|WARN|FAIL)(?: \((.*)\))?", cell)
    assert match, f"default {cell!r} is not an action"
    exceptions: dict[str, Action] = {}
    for group in (match.group(2) or "").split(";"):
        if " for " not in group:
            continue
        action, classes = group.strip().split(" for ", 1)
        for name in classes.split(","):
            exceptions[name.strip()] = Action[action]
    return Action[match.group(1)], exceptions


def test_the_catalogue_lists_every_rule_with_its_reason_code() -> None:
    assert set(RULES) == set(RULE_FIELDS)
    for rule, row in RULES.items():
        match = re.fullmatch(r"`(\w+)` \((?:bit )?(\d+)\)", row[1])
        assert match, f"{rule}: reason cell {row[1]!r}"
        assert RULE_REASONS[rule] is Reason[match.group(1)], rule
        assert Reason[match.group(1)] == 1 << int(match.group(2)), rule


@pytest.mark.parametrize("rule", RULE_FIELDS)
def test_the_documented_default_is_the_default_of_every_channel(rule: str) -> None:
    base, exceptions = documented_default(RULES[rule][2])
    assert getattr(ChannelRules(), rule) == base
    assert set(exceptions) <= {"voltage", "registers", "instantaneous values", "export",
                               "intervals"}, exceptions
    for code in CHANNELS:
        expected = exceptions.get(channel_class(code), base)
        assert getattr(default_rules(code), rule) == expected, (rule, code)


def test_the_documented_parameters_are_the_defaults() -> None:
    names = {f for f in vars(ChannelRules()) if f not in RULE_FIELDS}
    checked = 0
    for row in RULES.values():
        for name, number in re.findall(r"`(\w+)` ([\d,.]+)", row[-1]):
            if name in names:
                assert getattr(ChannelRules(), name) == float(number.replace(",", "")), name
                checked += 1
    assert checked >= 6


def test_informational_reasons_are_reason_codes() -> None:
    rows = [row for row in table_rows("## VEE rules", "rule") if not row[0].startswith("`")]
    assert rows
    for row in rows:
        for name, bit in re.findall(r"`(\w+)` \((\d+)\)", row[1]):
            assert Reason[name] == 1 << int(bit), name


def test_the_precedence_table_is_the_default_order() -> None:
    rows = table_rows("Version precedence", "rank")
    assert [re.fullmatch(r"`(\w+)`", row[1]).group(1) for row in rows] == list(
        DEFAULT_PRECEDENCE)
    assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))


def test_the_edit_reason_table_is_the_catalogue() -> None:
    rows = table_rows("## Manual edits", "code")
    assert {re.fullmatch(r"`(\w+)`", row[0]).group(1): row[1] for row in rows} == EDIT_REASONS
