"""The sharing agreement in plain words (`referral policy report`)."""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from referral.authz.conditions import CONDITIONS
from referral.authz.enforcer import Authorizer, Permission
from referral.authz.expressions import parse
from referral.authz.report import (
    CATEGORY_WORDS,
    PERMISSION_WORDS,
    PolicyReport,
    build_report,
    describe,
    html,
    markdown,
)
from referral.domain.vocabulary import Category, Role

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
FILES = ("policies/model.conf", "policies/default.csv")
VOID = {"meta", "br", "hr", "img", "input", "link"}


@pytest.fixture(scope="module")
def authorizer() -> Authorizer:
    return Authorizer(SHIPPED)


@pytest.fixture(scope="module")
def report(authorizer: Authorizer) -> PolicyReport:
    return build_report(authorizer.rules, policy_hash=authorizer.policy_hash, files=FILES)


class Page(HTMLParser):
    """Checks the tags nest and collects the text, tags and attributes seen."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    assert parser.open == []
    return parser


def test_every_registered_condition_has_plain_words() -> None:
    for name, condition in CONDITIONS.items():
        words = condition.describe("health", "support")
        assert words.strip() and words != name and "_" not in words, name


def test_conditions_read_as_the_agreement_words_them() -> None:
    said = describe(
        parse("!in_state(draft, awaiting_panel) & (own_referral | org_kind_in(health, police))")
    )
    assert said == (
        "not while the case is draft or awaiting panel and (only referrals they made"
        " themselves, or if their organisation is health/police)"
    )
    assert describe(parse("true")) == "always"
    assert "7 days before to 7 days after" in describe(parse("on_agenda"))


def test_consent_conditions_say_what_the_consent_must_cover_and_for_what() -> None:
    assert describe(parse("consent_covers")) == (
        "only as far as the person's consent covers that data for their kind of"
        " organisation, for the purpose named"
    )
    assert "covers support data for their kind" in describe(parse("consent_covers(support)"))
    assert "lets some of their data go" in describe(parse("consent_covers_any"))
    assert "(for one intervention: that intervention)" in describe(parse("assigned"))


def test_a_condition_without_words_cannot_be_registered() -> None:
    from referral.authz.conditions import Always, register

    class Wordless(Always):
        name = "wordless"
        words = ""

    with pytest.raises(ValueError, match="no plain words"):
        register(Wordless)
    assert "wordless" not in CONDITIONS


def test_every_allow_rule_of_the_shipped_policy_appears(
    authorizer: Authorizer, report: PolicyReport
) -> None:
    sources = {
        where: (section.role, line)
        for section in report.sections
        for line in (*section.data, *section.permissions)
        for where in line.sources
    }
    for rule in authorizer.rules:
        role, line = sources[rule.where]
        assert role == rule.role and line.prohibited is not rule.allows, rule.where
        if rule.allows:
            assert line.purpose and line.legal_basis, rule.where


def test_deny_rules_read_as_prohibitions(report: PolicyReport) -> None:
    provider = next(s for s in report.sections if s.role == Role.PROVIDER)
    never = {line.what: line.may for line in provider.data if line.prohibited}
    assert never == {
        CATEGORY_WORDS[Category.NARRATIVE]: "never see or change",
        CATEGORY_WORDS[Category.CRIMINAL]: "never see or change",
    }
    assert "| **never see or change** |" in markdown(report)


def test_categories_follow_the_design_order_within_a_role(report: PolicyReport) -> None:
    order = list(CATEGORY_WORDS.values())
    for section in report.sections:
        positions = [order.index(line.what) for line in section.data]
        assert positions == sorted(positions), section.role


def test_organisation_kinds_a_condition_requires_name_who(report: PolicyReport) -> None:
    panel = next(s for s in report.sections if s.role == Role.PANEL_MEMBER)
    special = next(line for line in panel.data if line.what == CATEGORY_WORDS[Category.SPECIAL])
    assert special.who == "health/social care organisations only"
    assert special.when.startswith("while the case is on the agenda of a panel meeting")


def test_workflow_permissions_read_in_plain_words(report: PolicyReport) -> None:
    assert set(PERMISSION_WORDS) == set(Permission)
    chair = next(s for s in report.sections if s.role == Role.PANEL_CHAIR)
    assert "record a panel decision" in {line.what for line in chair.permissions}


def test_the_hash_and_files_are_printed(authorizer: Authorizer, report: PolicyReport) -> None:
    for page in (markdown(report), html(report)):
        assert authorizer.policy_hash in page
        assert all(name in page for name in FILES)


def test_the_html_page_is_standalone_accessible_and_script_free(report: PolicyReport) -> None:
    page = html(report)
    assert page.startswith("<!DOCTYPE html>")
    tags = parsed(page).tags
    names = [tag for tag, _ in tags]
    assert "script" not in names and "style" not in names
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    assert ("html", {"lang": "en"}) in tags
    assert names.count("table") == names.count("caption") > len(report.sections)
    scopes = {attrs.get("scope") for tag, attrs in tags if tag == "th"}
    assert scopes == {"col", "row"}


def test_the_html_escapes_what_the_files_and_labels_say(
    report: PolicyReport, tmp_path: Path
) -> None:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "model.conf").write_text((SHIPPED / "model.conf").read_text())
    (directory / "a.csv").write_text(
        "p, panel_chair, north-east, status, read, in_state(awaiting_panel), panel, public_task,"
        " allow\n"
    )
    authorizer = Authorizer(directory)
    evil = build_report(
        authorizer.rules,
        policy_hash=authorizer.policy_hash,
        files=["policies/<script>alert(1)</script>.csv"],
        state_label=lambda state: f"<b>{state}</b>",
    )
    page = html(evil)
    assert "<script>" not in page and "<b>" not in page
    text = "".join(parsed(page).text)
    assert "policies/<script>alert(1)</script>.csv" in text
    assert "while the case is <b>awaiting_panel</b>" in text
    assert "network north-east only" in text
