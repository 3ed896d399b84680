"""The fixed vocabularies of the domain: roles, organisation kinds, data categories."""

from enum import StrEnum


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


def N_(message: str) -> str:  # noqa: N802 (the name `make messages` extracts)
    """Marks a constant for extraction; the web shows it translated (the domain imports
    nothing of the project, so this is referral.i18n.N_'s twin)."""
    return message


# Error codes a service gives a field, in the words a form shows beside it.
ERROR_WORDS: dict[str, str] = {
    "required": N_("Fill this in."),
    "unknown": N_("Choose one of the options."),
    "naive": N_("Give the time with its time zone."),
    "own form": N_("Use its own form."),
}

# Recorded actions (the audit log's `object:verb` codes) in words, for the audit explorer
# and a case's history; said as the workflow files label their moves ("Submit referral"),
# so that they read right whether the action was allowed or refused. A workflow's move
# reads as its file labels the trigger (web.templating.action_labeller); any other action
# reads as written here, and one not listed as its object and verb in words.
ACTION_WORDS: dict[str, str] = {
    "case:read": "Read the case",
    "case:create": "Create the referral",
    "case:queue": "Read the case queue",
    "case:search": "Search the cases",
    "case:timeline": "Read the case history",
    "case:history": "Read the case history",
    "case:screen": "Screen the case",
    "case:deconflict": "Record the deconfliction check",
    "case:record_deconfliction": "Record the deconfliction check",
    "case:review": "Record a review",
    "case:manage": "Manage the case",
    "case:contribute": "Contribute to the panel",
    "case:decide": "Record the panel's decision",
    "case:consent": "Record consent",
    "case:schedule": "Put the case on a panel's agenda",
    "case:transfer": "Transfer the case",
    "case:migrate": "Move the case to a newer workflow",
    "case:erase": "Erase the case",
    "meeting:schedule": "Schedule a panel meeting",
    "meeting:set_agenda": "Set a meeting's agenda",
    "meeting:hold": "Mark a meeting as held",
    "meeting:approve_minutes": "Approve a meeting's minutes",
    "meeting:cancel": "Cancel a meeting",
    "meeting:read_minutes": "Read a meeting's minutes",
    "meeting:summon": "Summon an official to a meeting",
    "meeting:summons_entered": "Enter a meeting as a summoned official",
    "meeting:summons_ended": "A summons to a meeting ended",
    "consent:request": "Ask for consent",
    "consent:record": "Record the consent answer",
    "consent:give": "Consent given",
    "consent:refuse": "Consent refused",
    "consent:withdraw": "Consent withdrawn",
    "consent:expire": "Consent expired",
    "information_request:send": "Ask a partner agency for information",
    "information_request:answer": "Record an agency's answer",
    "information_request:read": "Read an information request",
    "intervention:assign": "Assign an intervention",
    "intervention:record": "Record an intervention's progress",
    "intervention:list": "Read the interventions",
    "auth:login": "Sign in",
    "auth:logout": "Sign out",
    "auth:second_factor": "Confirm with the second factor",
    "auth:second_factor_enrolled": "Set up the second factor",
    "auth:recovery_code_used": "Use a recovery code",
    "auth:recovery_codes_renewed": "Renew the recovery codes",
    "auth:network_switched": "Switch network",
    "auth:sso_pending": "Sign in through single sign-on (awaiting approval)",
    "auth:token_issued": "Issue an API token",
    "auth:token_revoke": "Revoke an API token",
    "audit:read": "Read the audit log",
    "audit:export": "Download the audit log",
    "audit:verify": "Check the audit chain",
    "audit:report": "Make an access report",
    "audit:destructions": "Read the destruction register",
    "admin:user_create": "Add a user",
    "admin:user_password": "Set a user's password",
    "admin:user_activate": "Reactivate a user",
    "admin:user_deactivate": "Deactivate a user",
    "admin:users_import": "Import users",
    "admin:role_grant": "Give a role",
    "admin:role_revoke": "Take away a role",
    "admin:organisation_create": "Add an organisation",
    "admin:second_factor_reset": "Reset a user's second factor",
    "admin:token_revoke": "Revoke a user's API token",
    "admin:sso_approve": "Approve a single sign-on account",
    "admin:sso_forget": "Remove a single sign-on account",
    "admin:webhook_register": "Register a webhook",
    "admin:webhook_disable": "Turn off a webhook",
    "breakglass:open": "Open a case in an emergency (break glass)",
    "breakglass:read": "Read a case in an emergency (break glass)",
    "breakglass:review": "Review an emergency access",
    "breakglass:queue": "Read the emergency accesses to review",
    "subject:export": "Export a person's data",
    "subject:overview": "Read a person's data overview",
    "subject:erase": "Erase a person's data",
    "transfer:propose": "Propose a transfer",
    "transfer:preview": "Preview a transfer",
    "transfer:disclosed": "Disclose a case in a transfer",
    "transfer:accept": "Accept a transfer",
    "transfer:decline": "Decline a transfer",
    "transfer:withdraw": "Withdraw a transfer",
    "transfer:expire": "A transfer expired",
    "transfer:hand_over": "Hand the case over",
    "linkage:ask": "Ask about a possible link",
    "linkage:read": "Read a possible link",
    "linkage:found": "Find a possible link",
    "linkage:confirm": "Confirm a link",
    "linkage:reject": "Reject a link",
    "linkage:rebuild": "Rebuild the linkage index",
    "linkage:alerts": "Read the link alerts",
    "network:create": "Create a network",
    "network:created": "Create a network",
    "network:new": "Create a network",
    "network:holidays": "Change the network's holidays",
    "protocol:published": "Publish the sharing protocol",
    "protocol:acknowledged": "Acknowledge the sharing protocol",
    "agreement:review_date_set": "Set the agreement's review date",
    "policy:apply": "Apply a policy change",
    "keys:rotate": "Rotate the encryption keys",
    "review:reminded": "Reminder: a review is due",
}

# The verbs of recorded actions not listed above, in words ("read" -> "read").
_ACTION_VERBS: dict[str, str] = {
    "read": "read",
    "write": "changed",
    "drift": "no activity",
    "review_due": "review due",
}


def action_words(action: str) -> str:
    """A recorded action in words: its own words when listed, else its object and verb
    in words ("identity:read" -> "Identity: read"), never the bare code."""
    text = str(action)
    if text in ACTION_WORDS:
        return ACTION_WORDS[text]
    if ":" not in text:
        return WORDS.get(text, text.replace("_", " ").capitalize())
    obj, _, verb = text.partition(":")
    thing = WORDS.get(obj, obj.replace("_", " ").capitalize())
    return f"{thing}: {_ACTION_VERBS.get(verb, verb.replace('_', ' '))}"
