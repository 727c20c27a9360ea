"""Task generators: a question, its exact answer, and the plan of tool calls that answers it.

A task needs ``hops`` (1 to 4) tool calls before ``submit``: the plan. Every call in it is needed
(its result or its effect cannot be had otherwise); pure helpers (``calculate``, ``days_after``)
are never in a plan. Shapes and the hops each offers:

- ``price`` (1-4): the price of an item [named in a memory note] [converted to another currency]
  [stored in memory];
- ``total`` (2-4): the cost of two quantities of two items in a currency (one rate per foreign currency);
- ``capital`` (1-4): the capital of a region [where an item is made] [named in a memory note] [stored];
- ``weekday`` (1-3): the weekday n days after a calendar event [named in a memory note] [stored];
- ``interval`` (2-4): the days between two events (each may be named in a memory note);
- ``payment`` (2-4): pay a customer's invoice (``make_payment`` is needed: a risky tool) and submit
  the confirmation code [customer named in a memory note] [code stored in memory].
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from agentgym.core.errors import ConfigError
from agentgym.envs.tooluse.calls import Call
from agentgym.envs.tooluse.tools import TOOL_NAMES
from agentgym.envs.tooluse.world import WEEKDAYS, World, norm, pick

NOTE_KEYS = ["memo", "reminder", "todo", "errand", "follow_up", "pinned", "draft", "bookmark", "jotting", "scratch"]
STORE_KEYS = ["result", "final_answer", "answer", "report", "summary"]
MONEY_TOLERANCE = 0.01
ALWAYS_LISTED = ("calculate", "submit")
FORMATS = {
    "money": "an amount of money as a number (within 0.01 of the exact amount counts as correct)",
    "int": "a whole number",
    "text": "a name, weekday or code as a string (case does not matter)",
}


def as_number(value: Any) -> float | None:
    """A finite number from an int, float or numeric string (not a bool), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


@dataclass(frozen=True)
class Answer:
    value: str | float | int
    kind: str
    """'money' (tolerance 0.01), 'int' (exact) or 'text' (ignoring case and spacing)."""

    def matches(self, given: Any) -> bool:
        if self.kind == "text":
            return isinstance(given, (str, int, float)) and norm(str(given)) == norm(str(self.value))
        number = as_number(given)
        tolerance = MONEY_TOLERANCE + 1e-9 if self.kind == "money" else 1e-9
        return number is not None and abs(number - float(self.value)) <= tolerance


@dataclass(frozen=True)
class Task:
    shape: str
    question: str
    answer: Answer
    plan: tuple[Call, ...]
    """The needed calls, in a valid order, without the final submit."""
    mentions: tuple[str, ...]
    """Names, keys and numbers the question states (what an agent knows before any call)."""
    flags: tuple[str, ...] = ()

    @property
    def hops(self) -> int:
        return len(self.plan)

    def submit_call(self) -> Call:
        return Call("submit", (("answer", self.answer.value),))


def _choose(rng: np.random.Generator, options: tuple[str, ...], count: int) -> tuple[str, ...] | None:
    return tuple(pick(rng, list(options), count)) if 0 <= count <= len(options) else None


def _note(world: World, rng: np.random.Generator, value: str) -> str:
    key = pick(rng, [k for k in NOTE_KEYS if k not in world.memory])
    world.memory[key] = value
    return key


def _recall(key: str) -> Call:
    return Call("recall", (("key", key),))


def _finish(rng, shape, question, answer, plan, mentions, flags) -> Task:
    if "store" in flags:
        key = pick(rng, STORE_KEYS)
        plan.append(Call("remember", (("key", key), ("value", answer.value))))
        question += f" Store the answer in memory under the key '{key}' before you submit it."
        mentions.append(key)
    return Task(shape, question, answer, tuple(plan), tuple(str(m) for m in mentions), tuple(sorted(flags)))


def price(world: World, rng: np.random.Generator, hops: int) -> Task | None:
    flags = _choose(rng, ("memory", "convert", "store"), hops - 1)
    if flags is None:
        return None
    item = pick(rng, list(world.items.values()))
    target = pick(rng, [c for c in world.currencies if c != item.currency]) if "convert" in flags else item.currency
    plan, mentions = [], [target]
    if "memory" in flags:
        key = _note(world, rng, item.name)
        plan.append(_recall(key))
        subject, mentions = f"the item saved in memory under the key '{key}'", [*mentions, key]
    else:
        subject, mentions = f"one {item.name}", [*mentions, item.name]
    plan.append(Call("lookup_item", (("name", item.name),)))
    if "convert" in flags:
        plan.append(Call("get_rate", (("source", item.currency), ("target", target))))
    answer = Answer(round(item.price * world.rates[(item.currency, target)], 2), "money")
    return _finish(rng, "price", f"What does {subject} cost, in {target}?", answer, plan, mentions, flags)


def total(world: World, rng: np.random.Generator, hops: int) -> Task | None:
    items = list(world.items.values())
    combos = [(a, b, t) for i, a in enumerate(items) for b in items[i + 1:] for t in world.currencies
              if len({a.currency, b.currency} - {t}) == hops - 2]
    if not combos:
        return None
    a, b, target = pick(rng, combos)
    if rng.random() < 0.5:
        a, b = b, a
    qa, qb = (int(q) for q in rng.integers(2, 6, size=2))
    plan = [Call("lookup_item", (("name", a.name),)), Call("lookup_item", (("name", b.name),))]
    for currency in dict.fromkeys([a.currency, b.currency]):
        if currency != target:
            plan.append(Call("get_rate", (("source", currency), ("target", target))))
    value = qa * a.price * world.rates[(a.currency, target)] + qb * b.price * world.rates[(b.currency, target)]
    question = f"What is the total cost, in {target}, of {qa} units of the {a.name} and {qb} units of the {b.name}?"
    flags = ("convert",) * min(1, hops - 2)
    return _finish(rng, "total", question, Answer(round(value, 2), "money"), plan, [target, a.name, b.name, qa, qb],
                   flags)


def capital(world: World, rng: np.random.Generator, hops: int) -> Task | None:
    flags = _choose(rng, ("via_item", "memory", "store"), hops - 1)
    if flags is None:
        return None
    plan, mentions = [], []
    if "via_item" in flags:
        item = pick(rng, list(world.items.values()))
        region, named = world.regions[norm(item.origin)], item.name
    else:
        region = pick(rng, list(world.regions.values()))
        named = region.name
    if "memory" in flags:
        key = _note(world, rng, named)
        plan.append(_recall(key))
        mentions.append(key)
        subject = f"{'item' if 'via_item' in flags else 'region'} saved in memory under the key '{key}'"
    else:
        mentions.append(named)
        subject = f"{'item' if 'via_item' in flags else 'region'} {named}"
    if "via_item" in flags:
        plan.append(Call("lookup_item", (("name", item.name),)))
        question = f"What is the capital of the region where the {subject} is made?"
    else:
        question = f"What is the capital of the {subject}?"
    plan.append(Call("lookup_region", (("name", region.name),)))
    return _finish(rng, "capital", question, Answer(region.capital, "text"), plan, mentions, flags)


def weekday(world: World, rng: np.random.Generator, hops: int) -> Task | None:
    flags = _choose(rng, ("memory", "store"), hops - 1)
    if flags is None:
        return None
    event = pick(rng, sorted(world.events))
    days = int(rng.integers(1, 61))
    plan: list[Call] = []
    mentions: list[str | int] = [days]
    if "memory" in flags:
        key = _note(world, rng, event)
        plan.append(_recall(key))
        subject, mentions = f"the event saved in memory under the key '{key}'", [*mentions, key]
    else:
        subject, mentions = f"the {event}", [*mentions, event]
    plan.append(Call("get_event", (("name", event),)))
    answer = Answer(WEEKDAYS[(world.events[event] + dt.timedelta(days=days)).weekday()], "text")
    question = f"What day of the week is it {days} days after {subject}? Answer with the weekday's English name."
    return _finish(rng, "weekday", question, answer, plan, mentions, flags)


def interval(world: World, rng: np.random.Generator, hops: int) -> Task | None:
    if not 2 <= hops <= 4:
        return None
    events = pick(rng, sorted(world.events), 2)
    noted = set(pick(rng, [0, 1], hops - 2))
    plan, mentions, subjects = [], [], []
    for position, event in enumerate(events):
        if position in noted:
            key = _note(world, rng, event)
            plan.append(_recall(key))
            subjects.append(f"the event saved in memory under the key '{key}'")
            mentions.append(key)
        else:
            subjects.append(f"the {event}")
            mentions.append(event)
    plan += [Call("get_event", (("name", event),)) for event in events]
    days = abs((world.events[events[1]] - world.events[events[0]]).days)
    question = (f"How many days apart are {subjects[0]} and {subjects[1]}? "
                "Answer with the later date minus the earlier one, in days.")
    flags = ("memory",) * min(1, len(noted))
    return _finish(rng, "interval", question, Answer(days, "int"), plan, mentions, flags)


def payment(world: World, rng: np.random.Generator, hops: int) -> Task | None:
    flags = _choose(rng, ("memory", "store"), hops - 2)
    if flags is None:
        return None
    invoice = pick(rng, list(world.invoices.values()))
    plan, mentions = [], []
    if "memory" in flags:
        key = _note(world, rng, invoice.customer)
        plan.append(_recall(key))
        subject, mentions = f"the customer saved in memory under the key '{key}'", [key]
    else:
        subject, mentions = invoice.customer, [invoice.customer]
    plan.append(Call("get_invoice", (("customer", invoice.customer),)))
    plan.append(Call("make_payment", (("invoice_id", invoice.invoice_id), ("amount", invoice.amount))))
    question = f"Pay the open invoice of {subject} (the full amount due) and submit the payment's confirmation code."
    return _finish(rng, "payment", question, Answer(invoice.confirmation, "text"), plan, mentions, flags)


SHAPES: dict[str, Callable[[World, np.random.Generator, int], Task | None]] = {
    "price": price, "total": total, "capital": capital, "weekday": weekday, "interval": interval, "payment": payment,
}


def generate_task(world: World, rng: np.random.Generator, hops: int) -> Task:
    """A random task of ``hops`` needed calls; also writes its memory notes and 1-2 distractor notes."""
    for shape in pick(rng, list(SHAPES), len(SHAPES)):
        task = SHAPES[shape](world, rng, hops)
        if task is not None:
            break
    else:
        raise ConfigError(f"no task shape offers {hops} hops")
    distractors = [i.name for i in world.items.values()] + sorted(world.events)
    distractors += [i.customer for i in world.invoices.values()]
    for _ in range(int(rng.integers(1, 3))):
        _note(world, rng, pick(rng, distractors))
    return task


def listed_tools(task: Task, rng: np.random.Generator, distractors: int) -> tuple[str, ...]:
    """The tools shown to the agent: the plan's, ``calculate`` and ``submit``, and ``distractors`` others."""
    needed = {call.tool for call in task.plan} | set(ALWAYS_LISTED)
    others = [name for name in TOOL_NAMES if name not in needed]
    chosen = needed | set(pick(rng, others, min(distractors, len(others))))
    return tuple(name for name in TOOL_NAMES if name in chosen)
