"""A transition table: the only place an aggregate's status may change.

Each table maps an action to the moves it allows, `{from_state: to_state(s)}`. `move` returns the
new status, or raises `InvalidState` (the contract's 409, with the action's refusal message) when
the action is not allowed from the current status, and ValueError (a bug) for an action or a
target its table does not have; a status is always assigned as `self.status =
MACHINE.move(self.status, "action")`. Adding a status is adding it to the aggregate's `Literal`
and to its table (domain/lifecycles.py).

Moves can be observed (`observing`), which is how the property test checks that every move the
code makes is in its table and that every entry of every table is reachable. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, NamedTuple, TypeVar, get_args

from .errors import InvalidState

S = TypeVar("S", bound=str)


class Transition(NamedTuple):
    """One entry of a table (or one move made): `machine` goes from `source` to `target` by `action`."""

    machine: str
    action: str
    source: str
    target: str

    def __str__(self) -> str:
        return f"{self.machine}: {self.source} --{self.action}--> {self.target}"


Observer = Callable[[Transition], None]
# Process-wide, not a context variable: moves made in worker threads (the dispatcher's) count too.
_observers: list[Observer] = []
MACHINES: dict[str, StateMachine[Any]] = {}  # every table, by name (for the property test and the docs)


@contextmanager
def observing(observer: Observer) -> Iterator[None]:
    """Call `observer` with every move made, in any thread, while the block runs (tests)."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


class StateMachine(Generic[S]):
    def __init__(
        self,
        name: str,
        states: Any,
        table: Mapping[str, Mapping[S, S | tuple[S, ...]]],
        *,
        initial: S,
        refusals: Mapping[str, str] | None = None,
        verbs: Mapping[str, str] | None = None,
    ) -> None:
        """`states`: the status `Literal` (all of it must appear in the table); `refusals`: the
        message of a refused action, by action (`{state}` and any `move` context fill it); the
        default is "Cannot <verb> a <name> that is <state>.", the verb being the action's name
        unless `verbs` gives one."""
        self.name, self.initial = name, initial
        self.states: tuple[S, ...] = get_args(states)
        self._table: dict[str, dict[S, tuple[S, ...]]] = {
            action: {source: (targets if isinstance(targets, tuple) else (targets,)) for source, targets in moves.items()}
            for action, moves in table.items()
        }
        self._refusals = dict(refusals or {})
        self._verbs = dict(verbs or {})
        used = {initial} | {s for moves in self._table.values() for src, tgts in moves.items() for s in (src, *tgts)}
        if unknown := used - set(self.states):
            raise ValueError(f"{name}: states not in its Literal: {sorted(unknown)}")
        if unused := set(self.states) - used:
            raise ValueError(f"{name}: states in no transition: {sorted(unused)}")
        MACHINES[name] = self

    # ------------------------------------------------------------------ reading the table
    @property
    def entries(self) -> frozenset[Transition]:
        return frozenset(
            Transition(self.name, action, source, target)
            for action, moves in self._table.items()
            for source, targets in moves.items()
            for target in targets
        )

    def allows(self, state: S, action: str) -> bool:
        return state in self._table.get(action, {})

    def sources(self, *actions: str) -> frozenset[S]:
        """The states any of `actions` may start from."""
        return frozenset(s for action in actions for s in self._table[action])

    @property
    def final(self) -> frozenset[S]:
        """The states with no way out (a move that stays where it is, like a late attempt recorded on
        a succeeded webhook delivery, is not a way out)."""
        return frozenset(s for s in self.states if not any(set(moves.get(s, ())) - {s} for moves in self._table.values()))

    # ------------------------------------------------------------------ moving
    def ensure(self, state: S, action: str, **context: object) -> None:
        """Refuse `action` from `state` now, before other checks; the move itself comes later."""
        if not self.allows(state, action):
            raise InvalidState(self.refusal(action, state, **context))

    def move(self, state: S, action: str, to: S | None = None, **context: object) -> S:
        """The status after `action` from `state` (`to` picks one of several targets). An action
        its table does not allow from `state` is refused with InvalidState (the contract's 409 and
        the action's message); an action or a target the table does not have at all is a bug
        (ValueError)."""
        if action not in self._table:
            raise ValueError(f"{self.name}: no action {action!r} in its table")
        targets = self._table[action].get(state)
        if targets is None:
            raise InvalidState(self.refusal(action, state, **context))
        if to is None:
            if len(targets) != 1:
                raise ValueError(f"{self.name}: {action} from {state} needs a target, one of {targets}")
            to = targets[0]
        elif to not in targets:
            raise ValueError(f"{self.name}: {action} from {state} to {to} is not in its table")
        if _observers:
            move = Transition(self.name, action, state, to)
            for observer in list(_observers):
                observer(move)
        return to

    def refusal(self, action: str, state: S, **context: object) -> str:
        template = self._refusals.get(action, "Cannot {verb} a {name} that is {state}.")
        return template.format(verb=self._verbs.get(action, action), name=self.name, state=state, **context)
