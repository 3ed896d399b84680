"""Use cases. Each takes (uow, actor, command), decides under policy, and owns the commit."""
