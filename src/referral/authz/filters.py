"""WHERE clauses derived from the policy: lists filter in SQL, never row by row.

`case_filter` selects exactly the cases for which `Authorizer.decide` would allow
the same question: the SQL faces of the rules Casbin could match, combined the
way the model's effect combines them (some allow, and no deny).
"""

from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, not_, or_

from referral.authz.enforcer import Authorizer
from referral.db.tables import Case
from referral.domain.actors import Actor


def case_filter(
    authorizer: Authorizer,
    actor: Actor,
    category: str,
    act: str,
    now: datetime,
) -> ColumnElement[bool]:
    """The cases on which `actor` may `act` on `category` (or a permission's resource) now.

    A list of cases: `select(Case).where(case_filter(authz, actor, "status", "read", now))`.
    """
    rules = authorizer.rules_for(actor, category, act)
    allows = [r.expr.sql(actor, str(category), now, r.purpose) for r in rules if r.allows]
    denies = [r.expr.sql(actor, str(category), now, r.purpose) for r in rules if not r.allows]
    if not allows:
        return false()
    clause = and_(Case.network_id == actor.network_id, or_(*allows))
    if denies:
        clause = and_(clause, not_(or_(*denies)))
    return clause
