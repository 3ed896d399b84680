"""Several versions of a workflow loaded side by side.

New records start on the newest version of their workflow; a running case keeps the
version (and content) it started on until `referral workflows migrate` moves it. The set
behaves as a mapping from a workflow's name to its newest version, which is what every
new record and every linked record (consents, requests, meetings, interventions: they
carry no version) runs on; `at` reaches an earlier version a case is pinned to.
"""

from collections.abc import Iterable, Mapping

from referral.workflow.schema import Workflow


class WorkflowSet(dict[str, Workflow]):
    """Workflow name -> newest loaded version, and every loaded version by (name, version)."""

    def __init__(self, workflows: Iterable[Workflow] = ()) -> None:
        loaded = sorted(workflows, key=lambda w: (w.name, w.version))
        super().__init__((w.name, w) for w in loaded)  # the last, newest, of each name wins
        self.by_version: dict[tuple[str, int], Workflow] = {(w.name, w.version): w for w in loaded}

    @classmethod
    def of(cls, workflows: Mapping[str, Workflow]) -> "WorkflowSet":
        """The set itself, or a set of a plain mapping's workflows (one version each)."""
        return workflows if isinstance(workflows, WorkflowSet) else cls(workflows.values())

    def at(self, name: str, version: int) -> Workflow | None:
        """The loaded `version` of `name`, if it is loaded."""
        return self.by_version.get((name, version))

    def versions(self, name: str) -> list[int]:
        return sorted(v for n, v in self.by_version if n == name)

    def every(self) -> list[Workflow]:
        """Every loaded version, the newest of each name first (so that where two
        versions label one state differently, readers taking the first take the newest)."""
        return sorted(self.by_version.values(), key=lambda w: (w.name, -w.version))
