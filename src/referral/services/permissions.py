"""The permissions the services ask about themselves.

Most permissions are asked by moving a workflow object: a transition names the one it
needs (workflows/*.yaml). These are asked by services directly, for what no transition
does: reading the audit log, breaking glass, assigning an intervention, exporting a
subject's data. `referral workflows check` reports a permission the policy grants that
neither a workflow nor this list asks for (referral.authz.fit), and a test keeps this
list and the services' code in step.
"""

from referral.authz.enforcer import Permission

ASKED_BY_SERVICES: frozenset[str] = frozenset(
    {
        Permission.ADMIN_MANAGE,
        Permission.AUDIT_READ,
        Permission.AUDIT_VERIFY,
        Permission.BREAKGLASS_REVIEW,
        Permission.CASE_BREAKGLASS,
        Permission.CASE_DECIDE,
        Permission.CASE_DECONFLICT,
        Permission.CASE_MANAGE,
        Permission.CASE_SCREEN,
        Permission.CASE_SUBMIT,
        Permission.INFORMATION_REQUEST_SEND,
        Permission.INTERVENTION_ASSIGN,
        Permission.INTERVENTION_RECORD,
        Permission.LINKAGE_ALERTS,
        Permission.LINKAGE_ANSWER,
        Permission.LINKAGE_ASK,
        Permission.LINKAGE_READ,
        Permission.MEETING_SCHEDULE,
        Permission.MEETING_SET_AGENDA,
        Permission.MEETING_SUMMON,
        Permission.NETWORK_CREATE,
        Permission.NETWORK_OVERSEE,
        Permission.PROTOCOL_PUBLISH,
        Permission.POLICY_REVIEW,
        Permission.STATISTICS_READ,
        Permission.SUBJECT_EXPORT,
        Permission.WORKFLOW_MIGRATE,
        # services.transfers: a handover is not a bare transition of one network's case.
        Permission.TRANSFER_RECEIVE,
        Permission.TRANSFER_LIST,
        Permission.HANDOVER_STATUS,
        Permission.HANDOVER_IDENTITY,
        Permission.HANDOVER_CONTACT,
        Permission.HANDOVER_CONCERN,
        Permission.HANDOVER_NARRATIVE,
        Permission.HANDOVER_SPECIAL,
        Permission.HANDOVER_CRIMINAL,
        Permission.HANDOVER_ASSESSMENT,
        Permission.HANDOVER_DELIBERATION,
        Permission.HANDOVER_SUPPORT,
        Permission.HANDOVER_CONSENT,
    }
)
