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

# Recorded actions (the audit log's `object:verb` codes) in words, for the audit explorer
# and a case's history; said as the workflow files label their moves ("Submit referral"),
# so that they read right whether the action was allowed or refused. A workflow's move
# reads as its file labels the trigger (web.templating.action_labeller); any other action
# reads as written here, and one not listed as its object and verb in words.
ACTION_WORDS: dict[str, str] = {
    "case:read": N_("Read the case"),
    "case:create": N_("Create the referral"),
    "case:queue": N_("Read the case queue"),
    "case:search": N_("Search the cases"),
    "case:timeline": N_("Read the case history"),
    "case:history": N_("Read the case history"),
    "case:screen": N_("Screen the case"),
    "case:deconflict": N_("Record the deconfliction check"),
    "case:record_deconfliction": N_("Record the deconfliction check"),
    "case:review": N_("Record a review"),
    "case:manage": N_("Manage the case"),
    "case:contribute": N_("Contribute to the panel"),
    "case:decide": N_("Record the panel's decision"),
    "case:consent": N_("Record consent"),
    "case:schedule": N_("Put the case on a panel's agenda"),
    "case:transfer": N_("Transfer the case"),
    "case:migrate": N_("Move the case to a newer workflow"),
    "case:erase": N_("Erase the case"),
    "meeting:schedule": N_("Schedule a panel meeting"),
    "meeting:set_agenda": N_("Set a meeting's agenda"),
    "meeting:hold": N_("Mark a meeting as held"),
    "meeting:approve_minutes": N_("Approve a meeting's minutes"),
    "meeting:cancel": N_("Cancel a meeting"),
    "meeting:read_minutes": N_("Read a meeting's minutes"),
    "meeting:summon": N_("Summon an official to a meeting"),
    "meeting:summons_entered": N_("Enter a meeting as a summoned official"),
    "meeting:summons_ended": N_("A summons to a meeting ended"),
    "consent:request": N_("Ask for consent"),
    "consent:record": N_("Record the consent answer"),
    "consent:give": N_("Consent given"),
    "consent:refuse": N_("Consent refused"),
    "consent:withdraw": N_("Consent withdrawn"),
    "consent:expire": N_("Consent expired"),
    "information_request:send": N_("Ask a partner agency for information"),
    "information_request:answer": N_("Record an agency's answer"),
    "information_request:read": N_("Read an information request"),
    "intervention:assign": N_("Assign an intervention"),
    "intervention:record": N_("Record an intervention's progress"),
    "intervention:list": N_("Read the interventions"),
    "auth:login": N_("Sign in"),
    "auth:logout": N_("Sign out"),
    "auth:second_factor": N_("Confirm with the second factor"),
    "auth:second_factor_enrolled": N_("Set up the second factor"),
    "auth:recovery_code_used": N_("Use a recovery code"),
    "auth:recovery_codes_renewed": N_("Renew the recovery codes"),
    "auth:network_switched": N_("Switch network"),
    "auth:sso_pending": N_("Sign in through single sign-on (awaiting approval)"),
    "auth:token_issued": N_("Issue an API token"),
    "auth:token_revoke": N_("Revoke an API token"),
    "audit:read": N_("Read the audit log"),
    "audit:export": N_("Download the audit log"),
    "audit:verify": N_("Check the audit chain"),
    "audit:report": N_("Make an access report"),
    "audit:destructions": N_("Read the destruction register"),
    "admin:user_create": N_("Add a user"),
    "admin:user_password": N_("Set a user's password"),
    "admin:user_activate": N_("Reactivate a user"),
    "admin:user_deactivate": N_("Deactivate a user"),
    "admin:users_import": N_("Import users"),
    "admin:role_grant": N_("Give a role"),
    "admin:role_revoke": N_("Take away a role"),
    "admin:organisation_create": N_("Add an organisation"),
    "admin:second_factor_reset": N_("Reset a user's second factor"),
    "admin:token_revoke": N_("Revoke a user's API token"),
    "admin:sso_approve": N_("Approve a single sign-on account"),
    "admin:sso_forget": N_("Remove a single sign-on account"),
    "admin:webhook_register": N_("Register a webhook"),
    "admin:webhook_disable": N_("Turn off a webhook"),
    "breakglass:open": N_("Open a case in an emergency (break glass)"),
    "breakglass:read": N_("Read a case in an emergency (break glass)"),
    "breakglass:review": N_("Review an emergency access"),
    "breakglass:queue": N_("Read the emergency accesses to review"),
    "subject:export": N_("Export a person's data"),
    "subject:overview": N_("Read a person's data overview"),
    "subject:erase": N_("Erase a person's data"),
    "transfer:propose": N_("Propose a transfer"),
    "transfer:preview": N_("Preview a transfer"),
    "transfer:disclosed": N_("Disclose a case in a transfer"),
    "transfer:accept": N_("Accept a transfer"),
    "transfer:decline": N_("Decline a transfer"),
    "transfer:withdraw": N_("Withdraw a transfer"),
    "transfer:expire": N_("A transfer expired"),
    "transfer:hand_over": N_("Hand the case over"),
    "linkage:ask": N_("Ask about a possible link"),
    "linkage:read": N_("Read a possible link"),
    "linkage:found": N_("Find a possible link"),
    "linkage:confirm": N_("Confirm a link"),
    "linkage:reject": N_("Reject a link"),
    "linkage:rebuild": N_("Rebuild the linkage index"),
    "linkage:alerts": N_("Read the link alerts"),
    "network:create": N_("Create a network"),
    "network:created": N_("Create a network"),
    "network:new": N_("Create a network"),
    "network:holidays": N_("Change the network's holidays"),
    "protocol:published": N_("Publish the sharing protocol"),
    "protocol:acknowledged": N_("Acknowledge the sharing protocol"),
    "agreement:review_date_set": N_("Set the agreement's review date"),
    "policy:apply": N_("Apply a policy change"),
    "keys:rotate": N_("Rotate the encryption keys"),
    "review:reminded": N_("Reminder: a review is due"),
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
