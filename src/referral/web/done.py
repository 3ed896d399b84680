"""The confirmation a page shows after an action: what happened, in plain words.

A form posts, then redirects (303) to the page it came from with `?done=<key>`; that page
shows the key's sentence with the object's own reference and what happens next. Only the
keys below are ever shown: an unknown or forged `done` shows nothing, so the parameter
cannot carry text of its own onto the page.
"""

from typing import Any

from referral.i18n import N_

CASE = {
    "moved": N_("The case moved on"),
    "deconfliction": N_("The deconfliction check was recorded"),
    "screening": N_("The screening outcome was recorded"),
    "send_requests": N_("The information requests were sent: each agency is told"),
    "answer": N_("The agency's answer was recorded"),
    "request_consent": N_("Consent was asked for"),
    "record_consent": N_("The consent answer was recorded"),
    "consent_withdrawal": N_("Consent was withdrawn and the case closed"),
    "hand_over": N_(
        "The handover was proposed: the case stays here until the other network accepts it"
    ),
    "assign_intervention": N_("The intervention was assigned: the provider is told"),
    "record_review": N_("The review was recorded"),
    "break_glass": N_("Break-glass access was opened and recorded for the data-protection officer"),
    "link": N_("Your answer about the earlier referral was recorded"),
    "transfer_accepted": N_("The case was accepted from the other network"),
}
MEETING = {
    "scheduled": N_("The meeting was scheduled: the people invited are told"),
    "agenda": N_("The agenda was saved: invited members may now read its cases"),
    "contribution": N_("Your contribution was added"),
    "decision": N_("The panel's decision was recorded and the case moved on"),
    "moved": N_("The meeting was updated"),
}
INTERVENTION = {
    "moved": N_("The intervention was updated: the coordinator is told"),
    "progress": N_("Your progress note was recorded"),
}


def key(name: str) -> str:
    """The `done` key of a case form: one per kind of form, not per request answered."""
    return "answer" if name.startswith("answer_") else name


def message(messages: dict[str, str], request: Any) -> str:
    """The sentence for this request's `done`, or "" when there is none to show."""
    return messages.get(str(request.query_params.get("done", "")), "")
