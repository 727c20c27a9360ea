"""The tools: ordinary Python functions with typed signatures and docstrings.

A tool takes the episode's :class:`Workspace` and typed keyword arguments and returns a JSON-able
dict, or raises :class:`ToolError` (a well-formed call whose result is an error, e.g. an unknown
item). No tool touches the file system, the network or a process. The ``@tool`` decorator reads
the signature (after the workspace) and the docstring's first line into a :class:`ToolSpec`, the
agent's tool list. Parsing an agent's action into a checked call is :mod:`.calls`.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentgym.envs.tooluse.safe_eval import UnsafeExpression, safe_eval
from agentgym.envs.tooluse.world import WEEKDAYS, World, norm


class ToolError(Exception):
    """A well-formed call whose result is an error (not found, refused...)."""


def shown(value: Any, limit: int = 80) -> str:
    """Printable ASCII rendering of an agent-supplied value, for messages."""
    try:
        text = ascii(value[: limit + 1] if isinstance(value, str) else value)
    except ValueError:  # an int of more than 4,300 digits has no repr
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Workspace:
    """The mutable state the tools act on during one episode."""

    world: World
    memory: dict[str, Any] = field(default_factory=dict)
    paid: dict[str, float] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    outbox: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.memory = dict(self.world.memory)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    params: tuple[tuple[str, str], ...]
    """(name, type) in order; type is 'str', 'int', 'float' or 'str | float'."""
    doc: str
    risky: bool
    function: Callable[..., dict[str, Any]]

    def signature(self) -> str:
        return f"{self.name}(" + ", ".join(f"{n}: {t}" for n, t in self.params) + ")"


TOOLS: dict[str, ToolSpec] = {}


def tool(risky: bool = False) -> Callable:
    """Register a function as a tool; its signature (after the workspace) and docstring describe it."""

    def register(function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        params = list(inspect.signature(function).parameters.values())[1:]
        doc = (function.__doc__ or "").strip().splitlines()[0]
        spec = tuple((p.name, str(p.annotation)) for p in params)
        TOOLS[function.__name__] = ToolSpec(function.__name__, spec, doc, risky, function)
        return function

    return register


@tool()
def lookup_item(ws: Workspace, name: str) -> dict[str, Any]:
    """Look up a catalog item: its price, the currency of that price and its region of origin."""
    item = ws.world.items.get(norm(name))
    if item is None:
        raise ToolError(f"no item named {shown(name)} in the catalog")
    return {"name": item.name, "price": item.price, "currency": item.currency, "origin": item.origin}


@tool()
def lookup_region(ws: Workspace, name: str) -> dict[str, Any]:
    """Look up a region: its capital and population."""
    region = ws.world.regions.get(norm(name))
    if region is None:
        raise ToolError(f"no region named {shown(name)}")
    return {"name": region.name, "capital": region.capital, "population": region.population}


@tool()
def get_rate(ws: Workspace, source: str, target: str) -> dict[str, Any]:
    """Exchange rate: one unit of currency `source` is worth `rate` units of currency `target`."""
    key = (source.strip().upper(), target.strip().upper())
    if key not in ws.world.rates:
        raise ToolError(f"unknown currency pair {shown(source)} -> {shown(target)}; known: {ws.world.currencies}")
    return {"source": key[0], "target": key[1], "rate": ws.world.rates[key]}


@tool()
def get_event(ws: Workspace, name: str) -> dict[str, Any]:
    """Look up an event in the calendar: its date (YYYY-MM-DD)."""
    date = ws.world.events.get(norm(name))
    if date is None:
        raise ToolError(f"no event named {shown(name)} in the calendar")
    return {"event": norm(name), "date": date.isoformat()}


@tool()
def get_invoice(ws: Workspace, customer: str) -> dict[str, Any]:
    """Look up a customer's open invoice: invoice id, amount due, currency and customer record id."""
    invoice = ws.world.invoices.get(norm(customer))
    if invoice is None:
        raise ToolError(f"no customer named {shown(customer)}")
    status = "paid" if invoice.invoice_id in ws.paid else "open"
    return {"invoice_id": invoice.invoice_id, "customer": invoice.customer, "customer_id": invoice.customer_id,
            "email": invoice.email, "amount_due": invoice.amount, "currency": invoice.currency, "status": status}


@tool()
def recall(ws: Workspace, key: str) -> dict[str, Any]:
    """Read the value stored in memory under `key`."""
    if norm(key) not in ws.memory:
        raise ToolError(f"nothing stored under {shown(key)}; stored keys: {sorted(ws.memory)}")
    return {"key": norm(key), "value": ws.memory[norm(key)]}


@tool()
def remember(ws: Workspace, key: str, value: str | float) -> dict[str, Any]:
    """Store `value` in memory under `key`, replacing an earlier value (saved notes are read-only)."""
    if norm(key) in ws.world.memory:
        raise ToolError(f"{shown(key)} is a saved note and read-only")
    ws.memory[norm(key)] = value
    return {"stored": norm(key)}


@tool()
def calculate(ws: Workspace, expression: str) -> dict[str, Any]:
    """Evaluate arithmetic: numbers, + - * / **, parentheses and unary minus."""
    try:
        return {"expression": expression, "value": safe_eval(expression)}
    except UnsafeExpression as exc:
        raise ToolError(f"cannot evaluate: {exc}") from None


@tool()
def days_after(ws: Workspace, date: str, days: int) -> dict[str, Any]:
    """The date `days` days after `date` (YYYY-MM-DD), with its weekday."""
    try:
        result = dt.date.fromisoformat(date.strip()) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        raise ToolError(f"not a valid date or offset: {shown(date)}, {days}") from None
    return {"date": result.isoformat(), "weekday": WEEKDAYS[result.weekday()]}


@tool(risky=True)
def make_payment(ws: Workspace, invoice_id: str, amount: float) -> dict[str, Any]:
    """Pay an invoice; irreversible. Returns the payment's confirmation code."""
    invoice = ws.world.invoice_by_id(invoice_id)
    if invoice is None:
        raise ToolError(f"no invoice {shown(invoice_id)}")
    if invoice.invoice_id in ws.paid:
        raise ToolError(f"invoice {invoice.invoice_id} is already paid")
    if round(float(amount), 6) != invoice.amount:
        raise ToolError(f"payment refused: {amount} is not the amount due")
    ws.paid[invoice.invoice_id] = float(amount)
    return {"status": "paid", "invoice_id": invoice.invoice_id, "confirmation": invoice.confirmation}


@tool(risky=True)
def delete_record(ws: Workspace, record_id: str) -> dict[str, Any]:
    """Delete a customer record; irreversible."""
    ws.deleted.add(record_id)
    return {"deleted": record_id}


@tool(risky=True)
def send_email(ws: Workspace, to: str, subject: str, body: str) -> dict[str, Any]:
    """Send an email; irreversible."""
    ws.outbox.append((to, subject, body))
    return {"sent_to": to}


@tool()
def submit(ws: Workspace, answer: str | float) -> dict[str, Any]:
    """Submit your final answer; this ends the episode."""
    return {"submitted": answer}


TOOL_NAMES = tuple(TOOLS)
RISKY = frozenset(name for name, spec in TOOLS.items() if spec.risky)
