"""Condition expressions of policy lines: `on_agenda & org_kind_in(health, social_care)`.

Grammar (`!` binds tightest, then `&`, then `|`):

    expr   := term ("|" term)*
    term   := factor ("&" factor)*
    factor := "!" factor | "(" expr ")" | NAME [ "(" NAME ("," NAME)* ")" ]

A NAME is a registered condition (`true` included); its arguments are bare words.
An expression compiles to a tree with the same two faces as a condition; both take the
purpose of the rule the expression belongs to, which `consent_covers` reads.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, and_, not_, or_

from referral.authz.conditions import CONDITIONS, Condition, ConditionArgumentError, Question
from referral.domain.actors import Actor
from referral.domain.vocabulary import Purpose


class ExpressionError(ValueError):
    """A condition expression does not parse; the policy loader adds file and line."""


class Expr(ABC):
    @abstractmethod
    def holds(self, q: Question, purpose: Purpose | None = None) -> bool: ...

    @abstractmethod
    def calls(self) -> tuple[Call, ...]:
        """The named conditions the expression reads: its value is a function of theirs."""

    @abstractmethod
    def sql(
        self, actor: Actor, category: str, now: datetime, purpose: Purpose | None = None
    ) -> ColumnElement[bool]: ...


@dataclass(frozen=True, slots=True)
class Call(Expr):
    condition: Condition
    args: tuple[str, ...]

    def holds(self, q: Question, purpose: Purpose | None = None) -> bool:
        return self.condition.holds_under(purpose, q, *self.args)

    def calls(self) -> tuple[Call, ...]:
        return (self,)

    def sql(
        self, actor: Actor, category: str, now: datetime, purpose: Purpose | None = None
    ) -> ColumnElement[bool]:
        return self.condition.sql_under(purpose, actor, category, now, *self.args)


@dataclass(frozen=True, slots=True)
class Not(Expr):
    operand: Expr

    def holds(self, q: Question, purpose: Purpose | None = None) -> bool:
        return not self.operand.holds(q, purpose)

    def calls(self) -> tuple[Call, ...]:
        return self.operand.calls()

    def sql(
        self, actor: Actor, category: str, now: datetime, purpose: Purpose | None = None
    ) -> ColumnElement[bool]:
        return not_(self.operand.sql(actor, category, now, purpose))


@dataclass(frozen=True, slots=True)
class AllOf(Expr):
    operands: tuple[Expr, ...]

    def holds(self, q: Question, purpose: Purpose | None = None) -> bool:
        return all(o.holds(q, purpose) for o in self.operands)

    def calls(self) -> tuple[Call, ...]:
        return tuple(c for o in self.operands for c in o.calls())

    def sql(
        self, actor: Actor, category: str, now: datetime, purpose: Purpose | None = None
    ) -> ColumnElement[bool]:
        return and_(*(o.sql(actor, category, now, purpose) for o in self.operands))


@dataclass(frozen=True, slots=True)
class AnyOf(Expr):
    operands: tuple[Expr, ...]

    def holds(self, q: Question, purpose: Purpose | None = None) -> bool:
        return any(o.holds(q, purpose) for o in self.operands)

    def calls(self) -> tuple[Call, ...]:
        return tuple(c for o in self.operands for c in o.calls())

    def sql(
        self, actor: Actor, category: str, now: datetime, purpose: Purpose | None = None
    ) -> ColumnElement[bool]:
        return or_(*(o.sql(actor, category, now, purpose) for o in self.operands))


def requires(expr: Expr, names: frozenset[str]) -> bool:
    """Whether `expr` can hold only where one of the named conditions holds: a named call,
    an `&` with such an operand, or an `|` whose every operand is such. (A `!` never is.)"""
    if isinstance(expr, Call):
        return expr.condition.name in names
    if isinstance(expr, AllOf):
        return any(requires(o, names) for o in expr.operands)
    if isinstance(expr, AnyOf):
        return all(requires(o, names) for o in expr.operands)
    return False


_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_-]*)|([&|!(),]))")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected {text[pos:].lstrip()[:1]!r} in {text!r}")
        tokens.append(match.group(1) or match.group(2))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the token list; one instance per parse."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Expr:
        if not self.tokens:
            raise ExpressionError("empty condition (write `true` for none)")
        expr = self._expr()
        if self.pos < len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos]!r} in {self.text!r}")
        return expr

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ExpressionError(f"{self.text!r} ends too early")
        self.pos += 1
        return token

    def _expect(self, token: str) -> None:
        got = self._take()
        if got != token:
            raise ExpressionError(f"expected {token!r}, got {got!r} in {self.text!r}")

    def _expr(self) -> Expr:
        terms = [self._term()]
        while self._peek() == "|":
            self._take()
            terms.append(self._term())
        return terms[0] if len(terms) == 1 else AnyOf(tuple(terms))

    def _term(self) -> Expr:
        factors = [self._factor()]
        while self._peek() == "&":
            self._take()
            factors.append(self._factor())
        return factors[0] if len(factors) == 1 else AllOf(tuple(factors))

    def _factor(self) -> Expr:
        symbol = self._take()
        if symbol == "!":
            return Not(self._factor())
        if symbol == "(":
            expr = self._expr()
            self._expect(")")
            return expr
        if not _is_name(symbol):
            raise ExpressionError(f"unexpected {symbol!r} in {self.text!r}")
        return self._call(symbol)

    def _call(self, name: str) -> Expr:
        condition = CONDITIONS.get(name)
        if condition is None:
            raise ExpressionError(f"unknown condition {name!r}")
        args: list[str] = []
        if self._peek() == "(":
            self._take()
            args.append(self._word())
            while self._peek() == ",":
                self._take()
                args.append(self._word())
            self._expect(")")
        try:
            condition.check_args(tuple(args))
        except ConditionArgumentError as exc:
            raise ExpressionError(str(exc)) from None
        return Call(condition, tuple(args))

    def _word(self) -> str:
        token = self._take()
        if not _is_name(token):
            raise ExpressionError(f"expected an argument, got {token!r} in {self.text!r}")
        return token


def _is_name(token: str) -> bool:
    return token[0].isalpha() or token[0] == "_"


@lru_cache(maxsize=1024)
def parse(text: str) -> Expr:
    """Compile a condition expression; cached, as Casbin asks for it on every rule match."""
    return _Parser(text).parse()
