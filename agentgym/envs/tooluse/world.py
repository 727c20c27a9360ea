"""The seeded data behind the tools: a catalog, regions, exchange rates, a calendar, invoices, memory.

Everything is drawn from a ``numpy`` generator, so a seed fixes the world. Names are made up
(items are adjective-noun pairs, places are syllable strings, currencies are invented codes), so
an agent cannot know an answer without calling the tools.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ADJECTIVES = ["amber", "brass", "cedar", "copper", "coral", "ivory", "jade", "linen", "marble", "onyx", "pewter",
              "slate", "velvet", "walnut", "cobalt", "saffron"]
NOUNS = ["lamp", "kettle", "clock", "vase", "chair", "drum", "lantern", "basket", "mirror", "teapot", "compass",
         "globe", "stool", "candle"]
SYLLABLES = ["ka", "lo", "mir", "ven", "dra", "sel", "tor", "qui", "bel", "nor", "zan", "fel", "ith", "ul", "ra",
             "mon", "ost", "pel", "vin", "ar"]
CURRENCIES = ["ZOR", "KEP", "LUM", "DRA", "VEX", "QIN", "BRO", "MAV"]
EVENTS = ["budget review", "team offsite", "product launch", "board meeting", "design sprint", "quarterly planning",
          "customer demo", "safety audit", "hiring panel", "roadmap session"]
FIRST_NAMES = ["Orla", "Bram", "Ines", "Tomas", "Yara", "Kofi", "Lena", "Ravi", "Mina", "Odo", "Sven", "Ada"]
LAST_NAMES = ["Venn", "Okafor", "Strand", "Quill", "Marsh", "Lind", "Abara", "Castell", "Moreau", "Ibsen"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

N_ITEMS, N_REGIONS, N_CURRENCIES, N_EVENTS, N_CUSTOMERS = 8, 5, 4, 6, 4


def norm(text: str) -> str:
    """Lookup key of a name: case and surrounding space do not matter."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Item:
    name: str
    price: float
    currency: str
    origin: str


@dataclass(frozen=True)
class Region:
    name: str
    capital: str
    population: int


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    customer: str
    customer_id: str
    email: str
    amount: float
    currency: str
    confirmation: str


@dataclass
class World:
    items: dict[str, Item]
    regions: dict[str, Region]
    currencies: list[str]
    rates: dict[tuple[str, str], float]
    events: dict[str, dt.date]
    invoices: dict[str, Invoice]
    """By customer name (normalised)."""
    memory: dict[str, Any] = field(default_factory=dict)
    """Notes saved before the episode (read-only for the agent)."""

    def invoice_by_id(self, invoice_id: str) -> Invoice | None:
        return next((i for i in self.invoices.values() if norm(i.invoice_id) == norm(invoice_id)), None)


def pick(rng: np.random.Generator, options: list, count: int | None = None) -> Any:
    """One element (``count`` None) or ``count`` distinct elements of ``options``, in random order."""
    if count is None:
        return options[int(rng.integers(len(options)))]
    return [options[i] for i in rng.permutation(len(options))[:count]]


def _place_names(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = "".join(pick(rng, SYLLABLES, int(rng.integers(2, 4)))).capitalize()
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def _code(rng: np.random.Generator, prefix: str, digits: int, taken: set[str]) -> str:
    while True:
        code = prefix + "".join(str(int(d)) for d in rng.integers(0, 10, size=digits))
        if code not in taken:
            taken.add(code)
            return code


def generate_world(rng: np.random.Generator) -> World:
    """A fresh world; the memory is empty (task generation writes its notes)."""
    taken: set[str] = set()
    region_names, capitals = _place_names(rng, N_REGIONS, taken), _place_names(rng, N_REGIONS, taken)
    regions = {norm(n): Region(n, c, int(rng.integers(10, 900)) * 1000) for n, c in zip(region_names, capitals)}
    currencies = pick(rng, CURRENCIES, N_CURRENCIES)
    worth = {c: float(rng.uniform(0.2, 5.0)) for c in currencies}
    rates = {(a, b): 1.0 if a == b else round(worth[a] / worth[b], 4) for a in currencies for b in currencies}
    names = [f"{a} {n}" for a, n in zip(pick(rng, ADJECTIVES, N_ITEMS), pick(rng, NOUNS, N_ITEMS))]
    item_currencies = [currencies[0]] + [pick(rng, currencies) for _ in range(N_ITEMS - 1)]
    item_currencies[int(rng.integers(1, N_ITEMS))] = currencies[0]  # at least two items share a currency
    items = {}
    for name, currency in zip(names, item_currencies):
        items[norm(name)] = Item(name, round(float(rng.uniform(2.0, 500.0)), 2), currency, pick(rng, region_names))
    start = dt.date(2030, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3650)))
    offsets = sorted(int(d) for d in rng.choice(400, size=N_EVENTS, replace=False))
    events = {norm(e): start + dt.timedelta(days=d) for e, d in zip(pick(rng, EVENTS, N_EVENTS), offsets)}
    invoices = {}
    customers = [f"{f} {s}" for f, s in zip(pick(rng, FIRST_NAMES, N_CUSTOMERS), pick(rng, LAST_NAMES, N_CUSTOMERS))]
    for customer in customers:
        invoices[norm(customer)] = Invoice(
            invoice_id=_code(rng, "INV-", 5, taken), customer=customer, customer_id=_code(rng, "C-", 4, taken),
            email=customer.lower().replace(" ", ".") + "@example.com",
            amount=round(float(rng.uniform(20.0, 2000.0)), 2), currency=pick(rng, currencies),
            confirmation=_code(rng, "PAY-", 6, taken),
        )
    return World(items, regions, currencies, rates, events, invoices)
