"""Draw a workflow as Graphviz dot or Mermaid text, for docs and reviews.

Plain text out, no graphics dependency: pipe dot output to `dot -Tsvg`, or
paste the Mermaid text into a Markdown file.
"""

from referral.workflow.schema import Transition, Workflow


def _label(t: Transition) -> str:
    parts = [t.trigger]
    if t.conditions:
        parts.append(f"[{', '.join(t.conditions)}]")
    if t.timer is not None:
        length = [f"{t.timer.months}mo"] if t.timer.months else []
        if t.timer.days:
            length.append(f"{t.timer.days}{'wd' if t.timer.working else 'd'}")
        parts.append(f"after {' '.join(length)}")
    return " ".join(parts)


def _edges(wf: Workflow) -> list[tuple[str, str, str]]:
    return [(s, t.dest, _label(t)) for t in wf.transitions for s in t.source]


def to_dot(wf: Workflow) -> str:
    lines = [f'digraph "{wf.name}" {{', "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    lines.append(f'  "{wf.initial}" [style="rounded,bold"];')
    lines += [f'  "{s}" [shape=doublecircle];' for s in sorted(wf.final_states)]
    lines += [
        f'  "{s}" [style="rounded,filled", fillcolor=grey90];' for s in sorted(wf.closed_states)
    ]
    lines += [f'  "{a}" -> "{b}" [label="{label}"];' for a, b, label in _edges(wf)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(wf: Workflow) -> str:
    lines = ["stateDiagram-v2", f"  [*] --> {wf.initial}"]
    lines += [f"  {a} --> {b}: {label}" for a, b, label in _edges(wf)]
    lines += [f"  {s} --> [*]" for s in wf.state_names if s in wf.final_states]
    return "\n".join(lines) + "\n"
