"""A case as a FHIR R4 Bundle, holding only what the reader may see.

`export_case` reads the case through the same door as the case page and the API
(`referrals.case_view`: the case found through the scope, 404 when out of it, every
category decided by the policy, break-glass honoured) and ledgers the read like any other,
with target `fhir`; the history comes from `timeline.load_timeline`, for those who may
see it (the coordinator, the dpo), audited too. Then the view is mapped, never the rows:

- the case -> a `ServiceRequest` (status fields; the concern as reasonCode; narrative,
  special, criminal, assessment and support data as notes, each only when readable);
- the person -> a `Patient`, only when identity or contact data is readable; otherwise
  the references to them say `masked` (data-absent-reason);
- information requests, interventions (with their progress notes), panel decisions and
  contributions, reviews -> `Task`s, each list only when its category is readable;
- consent records -> `Consent`s, their scope as nested provisions;
- the case's audit entries -> `AuditEvent`s after the IHE Basic Audit Log Patterns (BALP):
  a read as IHE.BasicAudit.Read, a submission as .Create, any other change as .Update
  (the Patient* profile when the bundle holds the Patient). They name the actor's role
  and the categories, never a person.

Statuses follow what the states mean in the workflow files (domain.states, a state's
`means`), never their names: a network may rename its states. The plain state is kept in
each resource (an extension on the ServiceRequest, businessStatus on a Task).
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from referral.domain import states
from referral.domain.actors import Actor
from referral.domain.vocabulary import Category
from referral.services.referrals import CaseView, case_view
from referral.services.timeline import TimelineEntry, load_timeline
from referral.services.uow import UnitOfWork
from referral.workflow.schema import Workflow

Resource = dict[str, Any]

FHIR_VERSION = "4.0.1"
SYSTEM = "urn:referral"  # the code systems and identifiers of this service
NAMESPACE = uuid.UUID("5b2f5c0e-9d4a-4c1e-8f7a-2d3e4f5a6b7c")  # fullUrls: uuid5 in it
HISTORY_LIMIT = 500  # audit events an export holds at most, newest first
MASKED = {
    "extension": [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "masked",
        }
    ]
}
BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
# The case fields shown as notes on the ServiceRequest, by category.
NOTE_CATEGORIES = (
    Category.NARRATIVE,
    Category.SPECIAL,
    Category.CRIMINAL,
    Category.ASSESSMENT,
    Category.SUPPORT,
)
CASE = "case"


def export_case(uow: UnitOfWork, actor: Actor, case_id: int) -> Resource:
    """The case as a FHIR R4 Bundle (a dict, ready for JSON) of what the actor may see.
    The read and the history shown are ledgered; out of scope is NotFound."""
    view, case, facts = case_view(uow, actor, case_id, target="fhir")
    history = load_timeline(uow, actor, case, facts, everything=True, limit=HISTORY_LIMIT)
    uow.commit()
    # The case's own workflow under CASE; the linked records' under their names.
    names = (states.REQUEST, states.CONSENT, states.INTERVENTION)
    workflows = {CASE: uow.workflow(case.workflow_name)} | {n: uow.workflow(n) for n in names}
    return Exporter(actor.network, view, workflows, uow.now).bundle(
        history.entries if history else [], subject_id=case.subject_id
    )


class Exporter:
    """Maps one case view to FHIR resources."""

    def __init__(
        self, network: str, view: CaseView, workflows: Mapping[str, Workflow], now: datetime
    ) -> None:
        self.network = network
        self.view = view
        self.workflows = workflows
        self.now = now
        self.case_url = self.url("ServiceRequest", f"case-{view.case_id}")

    def url(self, kind: str, resource_id: str) -> str:
        return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{self.network}/{kind}/{resource_id}')}"

    def shown(self, name: str) -> Any:
        field = self.view.fields.get(name)
        return field.value if field is not None and field.visible else None

    def readable(self, category: Category) -> bool:
        return category not in self.view.hidden

    def bundle(self, history: list[TimelineEntry], *, subject_id: int) -> Resource:
        patient = self.patient(subject_id)
        subject = {"reference": self.url("Patient", f"subject-{subject_id}")} if patient else MASKED
        resources = [self.service_request(subject)]
        if patient:
            resources.append(patient)
        resources += self.tasks()
        resources += [self.consent(row, subject) for row in self.view.linked.get("consents", [])]
        resources += [self.audit_event(entry, subject if patient else None) for entry in history]
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid5(NAMESPACE, f"{self.network}/export/{self.view.case_id}")),
            "meta": {"lastUpdated": _instant(self.now)},
            "type": "collection",
            "timestamp": _instant(self.now),
            "entry": [
                {"fullUrl": self.url(r["resourceType"], r["id"]), "resource": _pruned(r)}
                for r in resources
            ],
        }

    # -- the case and the person ----------------------------------------------------------

    def service_request(self, subject: Mapping[str, Any]) -> Resource:
        view = self.view
        workflow = self.workflows[CASE]
        resource: Resource = {
            "resourceType": "ServiceRequest",
            "id": f"case-{view.case_id}",
            "extension": [{"url": f"{SYSTEM}:case-state", "valueCode": view.state}],
            "identifier": [{"system": f"{SYSTEM}:case", "value": str(view.case_id)}],
            "status": _request_status(workflow, view.state),
            "intent": "order",
            "code": {"text": view.workflow},
            "subject": subject,
            "authoredOn": _instant(self.shown("submitted_at") or self.shown("created_at")),
            "requester": {"display": f"referring organisation: {self.shown('referring_org_kind')}"},
        }
        if self.readable(Category.CONCERN):
            concern = [{"system": f"{SYSTEM}:concern-type", "code": str(c)} for c in _listed(
                self.shown("concern_types")
            )]  # fmt: skip
            resource["reasonCode"] = [{"coding": concern, "text": self.shown("concern_summary")}]
        notes = [
            f"{f.name.replace('_', ' ')} ({f.category}): {_text(f.value)}"
            for f in view.fields.values()
            if f.visible and f.category in NOTE_CATEGORIES and _text(f.value)
        ]
        if notes:
            resource["note"] = [{"text": note} for note in notes]
        return resource

    def patient(self, subject_id: int) -> Resource | None:
        if not (self.readable(Category.IDENTITY) or self.readable(Category.CONTACT)):
            return None
        patient: Resource = {"resourceType": "Patient", "id": f"subject-{subject_id}"}
        if self.readable(Category.IDENTITY):
            given, family = self.shown("given_name"), self.shown("family_name")
            patient["name"] = [{"family": family or None, "given": [given] if given else None}]
            if self.shown("date_of_birth"):
                patient["birthDate"] = self.shown("date_of_birth").isoformat()
            if self.shown("address"):
                patient["address"] = [{"text": self.shown("address")}]
            if self.shown("identifiers"):
                patient["identifier"] = [{"value": self.shown("identifiers")}]
        if self.readable(Category.CONTACT):
            telecom = [
                {"system": system, "value": self.shown(name)}
                for system, name in (("phone", "phone"), ("email", "email"))
                if self.shown(name)
            ]
            if telecom:
                patient["telecom"] = telecom
            if self.shown("guardian_details"):
                patient["contact"] = [
                    {
                        "relationship": [{"text": "guardian"}],
                        "name": {"text": self.shown("guardian_details")},
                    }
                ]
        return patient

    # -- linked records --------------------------------------------------------------------

    def tasks(self) -> list[Resource]:
        linked = self.view.linked
        tasks = [self.request_task(row) for row in linked.get("information_requests", [])]
        notes = linked.get("progress_notes", [])
        for row in linked.get("interventions", []):
            mine = [n for n in notes if n["intervention_id"] == row["id"]]
            tasks.append(self.intervention_task(row, mine))
        for row in linked.get("decisions", []):
            text = [row.get("rationale"), row.get("dissent") and f"dissent: {row['dissent']}"]
            tasks.append(self.task("decision", row["id"], "Panel decision", row.get("outcome"),
                                   "completed", text))  # fmt: skip
        for row in linked.get("contributions", []):
            task = self.task("contribution", row["id"], "Panel contribution", None, "completed",
                             [row.get("body")])  # fmt: skip
            task["owner"] = _organisation(row["organisation_id"])
            tasks.append(task)
        for row in linked.get("reviews", []):
            tasks.append(self.task("review", row["id"], "Review", row.get("kind"), "completed",
                                   [row.get("notes")]))  # fmt: skip
        return [_pruned(task) for task in tasks]

    def task(
        self,
        kind: str,
        record_id: int,
        code: str,
        description: str | None,
        status: str,
        notes: list[Any],
        state: str | None = None,
    ) -> Resource:
        return {
            "resourceType": "Task",
            "id": f"{kind}-{record_id}",
            "identifier": [{"system": f"{SYSTEM}:{kind}", "value": str(record_id)}],
            "basedOn": [{"reference": self.case_url}],
            "focus": {"reference": self.case_url},
            "status": status,
            "businessStatus": {"text": state} if state else None,
            "intent": "order",
            "code": {"text": code},
            "description": description or None,
            "note": [{"text": _text(n)} for n in notes if _text(n)] or None,
        }

    def request_task(self, row: Mapping[str, Any]) -> Resource:
        workflow = self.workflows[states.REQUEST]
        meaning = _meaning(workflow, row["state"])
        status = {
            "answered": "completed",
            "declined": "rejected",
            "withdrawn": "cancelled",
            "requested": "requested",
        }.get(meaning, "in-progress")
        task = self.task("request", row["id"], "Information request", row.get("question"),
                         status, [], row["state"])  # fmt: skip
        task["owner"] = _organisation(row["organisation_id"])
        if row.get("due_at"):
            task["restriction"] = {"period": {"end": _instant(row["due_at"])}}
        if _text(row.get("answer")):
            task["output"] = [{"type": {"text": "answer"}, "valueString": row["answer"]}]
        return task

    def intervention_task(
        self, row: Mapping[str, Any], notes: Sequence[Mapping[str, Any]]
    ) -> Resource:
        workflow = self.workflows[states.INTERVENTION]
        state = row["state"]
        if _meaning(workflow, state) == "withdrawn":
            status = "cancelled"
        elif state == workflow.initial:
            status = "requested"
        elif state in workflow.final_states | workflow.closed_states:
            status = "completed"
        else:
            status = "in-progress"
        texts = [row.get("plan") and f"plan: {row['plan']}"]
        texts += [f"{_instant(n['created_at'])}: {n['body']}" for n in notes]
        task = self.task("intervention", row["id"], "Intervention", row.get("kind"), status,
                         texts, state)  # fmt: skip
        task["owner"] = _organisation(row["provider_org_id"])
        return task

    def consent(self, row: Mapping[str, Any], subject: Mapping[str, Any]) -> Resource:
        workflow = self.workflows[states.CONSENT]
        meaning = _meaning(workflow, row["state"])
        status = {"given": "active", "refused": "rejected", "requested": "proposed"}.get(meaning)
        if status is None:
            status = "draft" if row["state"] == workflow.initial else "inactive"
        grants = row.get("scope_codes", [])
        provisions = [
            {
                "type": "permit",
                "class": [{"system": f"{SYSTEM}:category", "code": category}],
                "purpose": [{"system": f"{SYSTEM}:purpose", "code": purpose}],
                "actor": [
                    {
                        "role": {"coding": [{"system": f"{SYSTEM}:org-kind", "code": kind}]},
                        "reference": {"display": f"organisations of kind {kind}"},
                    }
                ],
            }
            for category, kind, purpose in grants
        ]
        consent: Resource = {
            "resourceType": "Consent",
            "id": f"consent-{row['id']}",
            "identifier": [{"system": f"{SYSTEM}:consent", "value": str(row["id"])}],
            "status": status,
            "scope": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                        "code": "patient-privacy",
                    }
                ]
            },
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": subject,
            "dateTime": _instant(row.get("decided_at")),
            "performer": [{"display": row["given_by"]}] if row.get("given_by") else None,
            "policyRule": {"text": "the network's sharing agreement"},
            "provision": {
                "type": "permit",
                "period": {"end": _instant(row["withdrawn_at"])}
                if row.get("withdrawn_at")
                else None,
                "provision": provisions or None,
            },
        }
        return consent

    # -- the audit log ---------------------------------------------------------------------

    def audit_event(self, entry: TimelineEntry, patient: Mapping[str, Any] | None) -> Resource:
        """One audit entry after BALP: RESTful type, the interaction as subtype, the user
        (by role), client and server as agents, the case (and the Patient) as entities."""
        verb, _, _ = entry.action.partition(":")[2].partition("_")
        if entry.action.endswith((":read", ":timeline")):
            interaction, action, profile = "read", "R", "Read"
        elif verb == "submit":
            interaction, action, profile = "create", "C", "Create"
        else:
            interaction, action, profile = "update", "U", "Update"
        reads = action == "R"
        # BALP: the side data flows from is the Source Role, the side it reaches Destination.
        client, server = ("110152", "110153") if reads else ("110153", "110152")
        entities: list[Resource] = [
            {
                "what": {"reference": self.case_url},
                "type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2"),
                "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "4"),
                "securityLabel": [
                    {"system": f"{SYSTEM}:category", "code": c} for c in entry.categories
                ] or None,
                "detail": [{"type": "disclosed", "valueString": s} for s in entry.disclosed]
                or None,
            }
        ]  # fmt: skip
        if patient is not None:
            profile = f"Patient{profile}"
            entities.append(
                {
                    "what": dict(patient),
                    "type": _coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "1"),
                    "role": _coding("http://terminology.hl7.org/CodeSystem/object-role", "1"),
                }
            )
        event: Resource = {
            "resourceType": "AuditEvent",
            "id": f"audit-{entry.seq}",
            "meta": {"profile": [BALP + profile]},
            "type": _coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest"),
            "subtype": [_coding("http://hl7.org/fhir/restful-interaction", interaction)],
            "action": action,
            "recorded": _instant(entry.at),
            "outcome": "0" if entry.allowed else "4",
            "outcomeDesc": entry.action if entry.allowed else f"{entry.action}: refused",
            "agent": [
                {
                    "type": {"coding": [_coding(DICOM, client)]},
                    "who": {"display": "referral client"},
                    "requestor": False,
                },
                {
                    "type": {"coding": [_coding(DICOM, server)]},
                    "who": {"display": f"referral ({self.network})"},
                    "requestor": False,
                },
                {
                    "type": {
                        "coding": [
                            _coding(
                                "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "IRCP" if reads else "AUT",
                            )
                        ]
                    },
                    "who": {"display": f"role: {entry.actor_role}"},
                    "requestor": True,
                },
            ],
            "source": {
                "site": "referral",
                "observer": {"display": f"referral ({self.network})"},
                "type": [
                    _coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4")
                ],
            },
            "entity": [_pruned(e) for e in entities],
        }
        return event


def _request_status(workflow: Workflow, state: str) -> str:
    if state == workflow.initial:
        return "draft"
    if state in workflow.final_states:
        return "revoked"
    if state in workflow.closed_states:
        return "completed"
    return "active"


def _meaning(workflow: Workflow, state: str) -> str:
    """What a linked record's state means to the code (its `means`, else its name)."""
    return {name: meaning for meaning, name in workflow.meanings.items()}.get(state, state)


def _organisation(organisation_id: int) -> Resource:
    return {"identifier": {"system": f"{SYSTEM}:organisation", "value": str(organisation_id)}}


def _coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def _instant(value: datetime | date | None) -> str | None:
    """A FHIR instant (UTC, with the zone) or None."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value).strip()


def _pruned(value: Any) -> Any:
    """Without empty values: FHIR allows no null, empty string, list or object."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        return [v for v in (_pruned(v) for v in value) if v not in (None, "", [], {})]
    return value
