"""The confirmation a page shows after an action: what happened, in plain words.

A form posts, then redirects (303) to the page it came from with `?done=<key>`; that page
shows the key's sentence with the object's own reference and what happens next. Only the
keys below are ever shown: an unknown or forged `done` shows nothing, so the parameter
cannot carry text of its own onto the page.
"""

from typing import Any

CASE = {
    "moved": "The case moved on",
    "deconfliction": "The deconfliction check was recorded",
    "screening": "The screening outcome was recorded",
    "send_requests": "The information requests were sent: each agency is told",
    "answer": "The agency's answer was recorded",
    "request_consent": "Consent was asked for",
    "record_consent": "The consent answer was recorded",
    "consent_withdrawal": "Consent was withdrawn and the case closed",
    "hand_over": "The handover was proposed: the case stays here until the other network "
    "accepts it",
    "assign_intervention": "The intervention was assigned: the provider is told",
    "record_review": "The review was recorded",
    "break_glass": "Break-glass access was opened and recorded for the data-protection officer",
    "link": "Your answer about the earlier referral was recorded",
    "transfer_accepted": "The case was accepted from the other network",
}
MEETING = {
    "scheduled": "The meeting was scheduled: the people invited are told",
    "agenda": "The agenda was saved: invited members may now read its cases",
    "contribution": "Your contribution was added",
    "decision": "The panel's decision was recorded and the case moved on",
    "moved": "The meeting was updated",
}
INTERVENTION = {
    "moved": "The intervention was updated: the coordinator is told",
    "progress": "Your progress note was recorded",
}


def key(name: str) -> str:
    """The `done` key of a case form: one per kind of form, not per request answered."""
    return "answer" if name.startswith("answer_") else name


def message(messages: dict[str, str], request: Any) -> str:
    """The sentence for this request's `done`, or "" when there is none to show."""
    return messages.get(str(request.query_params.get("done", "")), "")
