"""The fixed vocabularies of the domain: roles, organisation kinds, data categories."""

from enum import StrEnum


def N_(message: str) -> str:  # noqa: N802 (the name extraction tools look for)
    """Marks a constant for extraction into the catalogues (the domain imports nothing of
    the project, so not referral.i18n's); it is translated where it is shown."""
    return message


class Role(StrEnum):
    REFERRER = "referrer"
    COORDINATOR = "coordinator"
    SCREENER = "screener"
    PANEL_MEMBER = "panel_member"
    PANEL_CHAIR = "panel_chair"
    PROVIDER = "provider"
    DPO = "dpo"
    ADMIN = "admin"
    ANALYST = "analyst"
    AGENCY_CONTACT = "agency_contact"
    NATIONAL_COORDINATOR = "national_coordinator"
    # Held only while summoned to a meeting of the network (services.summons).
    INVITED_OFFICIAL = "invited_official"
    SYSTEM = "system"


class OrgKind(StrEnum):
    POLICE = "police"
    HEALTH = "health"
    EDUCATION = "education"
    SOCIAL_CARE = "social_care"
    YOUTH = "youth"
    CIVIL_SOCIETY = "civil_society"
    LOCAL_AUTHORITY = "local_authority"
    PROBATION = "probation"
    PRIVATE_SECTOR = "private_sector"
    NATIONAL = "national"


class Category(StrEnum):
    """Every field of a case belongs to exactly one category (DESIGN.md §2)."""

    STATUS = "status"
    IDENTITY = "identity"
    CONTACT = "contact"
    CONCERN = "concern"
    NARRATIVE = "narrative"
    SPECIAL = "special"
    CRIMINAL = "criminal"
    ASSESSMENT = "assessment"
    DELIBERATION = "deliberation"
    SUPPORT = "support"
    CONSENT = "consent"


PERSONAL_CATEGORIES = frozenset(Category) - {Category.STATUS}


class Purpose(StrEnum):
    SCREENING = "screening"
    PANEL = "panel"
    SUPPORT = "support"
    AUDIT = "audit"
    STATISTICS = "statistics"


class LegalBasis(StrEnum):
    CONSENT = "consent"
    PUBLIC_TASK = "public_task"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    CRIME_PREVENTION = "crime_prevention"


class ConcernType(StrEnum):
    """The fixed list a referrer chooses concern types from."""

    EXTREME_RIGHT = "extreme_right_wing"
    ISLAMIST = "islamist"
    EXTREME_LEFT = "extreme_left_wing"
    SINGLE_ISSUE = "single_issue"
    MIXED_UNCLEAR = "mixed_unclear_unstable"
    HATE = "hate_targeting_a_group"
    CONSPIRACY = "conspiracy_driven"
    SCHOOL_VIOLENCE = "school_massacre_fixation"
    OTHER = "other"


class InterventionKind(StrEnum):
    MENTORING = "mentoring"
    HEALTH = "health"
    EDUCATION = "education"
    EMPLOYMENT = "employment"
    FAMILY = "family_support"
    THEOLOGICAL = "theological_or_ideological"
    DIVERSIONARY = "diversionary_activity"


# The words pages show for values whose name alone would read as code (web.templating's
# `label` filter reads them first; any other value reads as its name in words).
WORDS: dict[str, str] = {
    "dpo": "Data-protection officer",
    "in_person": "In person",
    "follow_up_6m": "6-month follow-up",
    "follow_up_12m": "12-month follow-up",
    "support": "Support",
    "civil_society": "Civil society",
    "social_care": "Social care",
    "national_coordinator": "National coordinator",
    "panel_member": "Panel member",
    "not_sought": "Not asked yet",
    "deconfliction": "Deconfliction check",
}

# Error codes a service gives a field, in the words a form shows beside it.
ERROR_WORDS: dict[str, str] = {
    "required": N_("Fill this in."),
    "unknown": N_("Choose one of the options."),
    "naive": N_("Give the time with its time zone."),
    "own form": N_("Use its own form."),
}
