"""Typed records of a run and of the leaderboard; the JSON Schemas are generated from them.

Four documents cross a file boundary, each with one model here:

- :class:`EpisodeRecord`: one line of ``episodes.jsonl``, written by the runner per finished episode;
- :class:`StepRecord`: one step of an episode, for transcripts;
- :class:`Results`: ``results.json``, the per-cell metrics and aggregates of a run;
- :class:`Board`: ``leaderboard/leaderboard.json``, the accepted submissions.

The models are strict (a string is never a number, a float never a count, NaN and infinities are
refused, every number is bounded) and tolerant where the metrics may grow: metric blocks and
aggregates accept further keys, typed loosely but bounded like the rest. ``python -m agentgym.records
leaderboard/`` rewrites the checked-in schema files from the models.

Names (agent, reward, suite, split, env) are NFKC-normal printable ASCII from :data:`NAME_CHARS`;
a label is printable ASCII. Non-ASCII text is refused outright, which makes homoglyph look-alikes
("oracle" with a Cyrillic o, full-width letters) impossible; :func:`name_skeleton` then catches the
ASCII look-alikes left (case, 0/o, 1/l/i).

Example:
    >>> EpisodeRecord.model_validate({"key": "e|a|env|test/0/0", "cell": "e|a|env|test", "env": "e",
    ...     "agent": "a", "reward": "env", "split": "test", "seed": 0, "repeat": 0, "status": "ok",
    ...     "steps": 3}).scored
    True
    >>> check_name("\\u043eracle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: name '...racle' holds U+043E (CYRILLIC SMALL LETTER O): ...
"""

from __future__ import annotations

import json
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from agentgym.core.errors import ConfigError

RESULTS_SCHEMA_VERSION = 2  # 2: failed episodes split into agent_error (scored) and failed (harness); bootstrap_seed
BOARD_SCHEMA_VERSION = 2  # 2: notes; results_schema_version per submission; entries recomputed from episodes
REFERENCE_AGENTS = ("random", "oracle")
REFERENCE_REWARD = "env"

SCORED_STATUSES = ("ok", "agent_error")  # an agent_error episode is a failure of the agent, scored as such
FAILED_STATUS = "failed"  # a harness or env failure: the episode does not count, its cell is incomplete
EpisodeStatus = Literal["ok", "agent_error", "failed"]

MAX_MAGNITUDE = 1e15  # any number in results or on the board; far beyond any return, count or score
MAX_COUNT = 10**12
MAX_NAME_CHARS = 200
MAX_LABEL_CHARS = 200
MAX_TEXT_CHARS = 10_000
CI_TOLERANCE = 1e-9

NAME_CHARS = "A-Z a-z 0-9 and . _ : / + @ -"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/+@-]*$"
LABEL_PATTERN = r"^[ -~]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_NAME = re.compile(NAME_PATTERN)
_NAME_CHAR = re.compile(r"[A-Za-z0-9._:/+@-]")
# What is left to confuse once names are ASCII; the Cyrillic and Greek entries serve callers that
# compare names from elsewhere (they never pass check_name).
_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "i": "l", "\u0430": "a", "\u0435": "e", "\u043e": "o",
                             "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x", "\u0456": "l",
                             "\u0458": "j", "\u0455": "s", "\u03b1": "a", "\u03bf": "o", "\u03bd": "v",
                             "\u03c1": "p", "\u03c4": "t", "\u03b9": "l", "\u03ba": "k", "\u03b5": "e"})


# ---------------------------------------------------------------- names


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'category ' + unicodedata.category(char))})"


def check_name(value: str, kind: str = "name") -> str:
    """``value`` if it is a valid name, else ValueError saying why (and the fix, where there is one).

    A name is 1-200 characters from :data:`NAME_CHARS`, starts with a letter or digit, holds no
    ``..`` and no ``|`` (the separator of cell ids), and is its own NFKC normal form.
    """
    if not value:
        raise ConfigError(f"{kind} must not be empty")
    if len(value) > MAX_NAME_CHARS:
        raise ConfigError(f"{kind} is {len(value)} characters, over the limit of {MAX_NAME_CHARS}")
    if _NAME.fullmatch(value) and ".." not in value:
        return value
    shown = ascii(value)[1:-1] if len(value) <= 60 else ascii(value[:57])[1:-1] + "..."
    normal = unicodedata.normalize("NFKC", value)
    if normal != value and _NAME.fullmatch(normal) and ".." not in normal:
        raise ConfigError(f"{kind} '{shown}' is not in NFKC normal form: write {normal!r}")
    bad = [char for char in dict.fromkeys(value) if not _NAME_CHAR.fullmatch(char)]
    if bad:
        listed = ", ".join(_describe(char) for char in bad[:3])
        raise ConfigError(f"{kind} '{shown}' holds {listed}: names use only {NAME_CHARS}")
    if ".." in value:
        raise ConfigError(f"{kind} '{shown}' holds '..'")
    raise ConfigError(f"{kind} '{shown}' must start with a letter or a digit")


def check_label(value: str) -> str:
    """``value`` if it is a valid label: at most 200 characters of printable ASCII (space included)."""
    if len(value) > MAX_LABEL_CHARS:
        raise ConfigError(f"label is {len(value)} characters, over the limit of {MAX_LABEL_CHARS}")
    bad = [char for char in dict.fromkeys(value) if not " " <= char <= "~"]
    if bad:
        raise ConfigError(f"label holds {', '.join(_describe(c) for c in bad[:3])}: labels are printable ASCII")
    return value


def name_skeleton(name: str) -> str:
    """What a name looks like: NFKC, case-folded, look-alike characters mapped to one of them.

    Example:
        >>> name_skeleton("0racIe") == name_skeleton("oracle")
        True
    """
    return unicodedata.normalize("NFKC", name).casefold().translate(_HOMOGLYPHS)


def confusable(name: str, existing: Iterable[str]) -> str | None:
    """The first of ``existing`` that looks like ``name`` without being it, or None."""
    skeleton = name_skeleton(name)
    return next((other for other in existing if other != name and name_skeleton(other) == skeleton), None)


def _name_pair(first: str, second: str) -> Callable[[str], str]:
    """A validator of ``'<first>|<second>'`` keys whose two parts are valid names."""

    def check(value: str) -> str:
        parts = value.split("|")
        if len(parts) != 2:
            raise ConfigError(f"{value!r} is not '{first}|{second}'")
        check_name(parts[0], first), check_name(parts[1], second)
        return value

    return check


def _check_timestamp(value: str) -> str:
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        raise ConfigError(f"{value!r} is not an ISO 8601 time stamp") from None
    return value


def _check_file_name(value: str) -> str:
    if value in (".", "..") or any(c in value for c in "/\\") or not re.fullmatch(r"[ -~]+", value):
        raise ConfigError(f"{value!r} is not a bare file name (no folders, printable ASCII)")
    return value


def _schema(**extra: Any) -> dict[str, Any]:
    return {"json_schema_extra": extra}


Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, **_schema(pattern=NAME_PATTERN)),
                 AfterValidator(check_name)]
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS, **_schema(pattern=LABEL_PATTERN)), AfterValidator(check_label)]
TaskLabel = Annotated[str, Field(max_length=2 * MAX_NAME_CHARS + 1, description="env|split"),
                      AfterValidator(_name_pair("env", "split"))]
AgentKey = Annotated[str, Field(max_length=2 * MAX_NAME_CHARS + 1, description="agent|reward"),
                     AfterValidator(_name_pair("agent", "reward"))]
Sha256 = Annotated[str, Field(pattern=SHA256_PATTERN, description="Lower-case hex SHA-256.")]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
Timestamp = Annotated[str, Field(min_length=1, max_length=64, description="ISO 8601 time stamp."),
                      AfterValidator(_check_timestamp)]
FileName = Annotated[str, Field(min_length=1, max_length=255, description="A bare file name."),
                     AfterValidator(_check_file_name)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
Rate = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1)]
NonNegative = Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_MAGNITUDE)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**64)]
Scalar = Number | Annotated[int, Field(ge=-(2**53), le=2**53)] | bool | Text | None


class _Closed(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    """A record that accepts further keys (JSON values, bounded like everything else)."""

    model_config = ConfigDict(strict=True, extra="allow", populate_by_name=True)


# ---------------------------------------------------------------- episodes


class EpisodeRecord(_Open):
    """One line of ``episodes.jsonl``: one finished (or failed) episode of one cell.

    ``status`` is ``ok``; ``agent_error`` when the agent caused the failure (an exception in
    ``act``, output it could not make valid): scored as a failure of the agent; or ``failed``
    when the harness or the env failed: not scored, the cell is incomplete and ``--resume``
    re-runs the episode. Further keys (``trace_hash``, ``truncated_chars``, ...) are kept.
    """

    key: str = Field(max_length=4 * MAX_NAME_CHARS + 64, description="<cell>/<seed>/<repeat>; unique in a run.")
    cell: str = Field(max_length=4 * MAX_NAME_CHARS + 3, description="env|agent|reward|split.")
    env: str = Field(max_length=MAX_NAME_CHARS)
    agent: str = Field(max_length=MAX_NAME_CHARS)
    reward: str = Field(max_length=MAX_NAME_CHARS)
    split: str = Field(max_length=MAX_NAME_CHARS)
    seed: Seed
    repeat: Count
    reference: bool = False
    recipe: str | None = None
    train_seed: Seed | None = None
    status: EpisodeStatus
    error: str | None = None
    success: bool | None = None
    progress: Rate | None = None
    steps: Count = 0
    env_return: Number | None = None
    proxy_return: Number | None = None
    reward_vector: dict[str, Number] = Field(default_factory=dict)
    invalid_actions: Count = 0
    terminated: bool = False
    truncated: bool = False
    agent_info: dict[str, Number] = Field(default_factory=dict, description="Numeric per-episode sums (tokens...).")
    wall_seconds: NonNegative = 0.0
    reward_diagnostics: dict[str, Any] | None = None
    trace_hash: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _consistent(self) -> EpisodeRecord:
        cell = f"{self.env}|{self.agent}|{self.reward}|{self.split}"
        if self.cell != cell:
            raise ConfigError(f"cell {self.cell!r} should be {cell!r}")
        if self.key != f"{cell}/{self.seed}/{self.repeat}":
            raise ConfigError(f"key {self.key!r} should be {cell + '/' + str(self.seed) + '/' + str(self.repeat)!r}")
        return self

    @property
    def scored(self) -> bool:
        return self.status in SCORED_STATUSES


class StepRecord(_Open):
    """One step of an episode, for transcripts: what the agent saw and said, and what it got."""

    key: str = Field(description="The episode's key.")
    step: Count = Field(description="0 for the first action.")
    observation: Any = Field(default=None, description="The observation the agent acted on (text or numbers).")
    prompt: str | None = Field(default=None, description="The prompt sent, when stored in full.")
    prompt_sha256: Sha256 | None = Field(default=None, description="SHA-256 of the prompt, when not stored.")
    raw_answer: str | None = Field(default=None, description="The agent's raw output (LLM completion).")
    action: Any = Field(default=None, description="The parsed action passed to the env.")
    valid: bool = Field(default=True, description="Whether the env accepted the action.")
    reward: Number | None = None
    reward_vector: dict[str, Number] = Field(default_factory=dict)
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    latency_s: NonNegative | None = None


class EpisodeCounts(NamedTuple):
    """The one definition of counts shared by the runner and the validator."""

    episodes: int  # scored: ok + agent_error
    failed: int  # harness or env failures; a cell with any is incomplete


def is_scored(record: Mapping[str, Any]) -> bool:
    return record.get("status") in SCORED_STATUSES


def episode_counts(records: Iterable[Mapping[str, Any]]) -> EpisodeCounts:
    """``(scored episodes, harness failures)`` of ``records``.

    Example:
        >>> episode_counts([{"status": "ok"}, {"status": "agent_error"}, {"status": "failed"}])
        EpisodeCounts(episodes=2, failed=1)
    """
    episodes = failed = 0
    for record in records:
        episodes += is_scored(record)
        failed += record.get("status") == FAILED_STATUS
    return EpisodeCounts(episodes, failed)


# ---------------------------------------------------------------- results


class Interval(_Open):
    """A point estimate and its confidence interval; a bound may be null (undefined)."""

    mean: Number | None
    ci_low: Number | None
    ci_high: Number | None

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        low, mean, high = self.ci_low, self.mean, self.ci_high
        for (a, name_a), (b, name_b) in (((low, "ci_low"), (mean, "mean")), ((mean, "mean"), (high, "ci_high")),
                                         ((low, "ci_low"), (high, "ci_high"))):
            if a is not None and b is not None and a - b > CI_TOLERANCE:
                raise ConfigError(f"{name_a} {a!r} is above {name_b} {b!r}")
        return self


class RateInterval(Interval):
    """An interval of a rate: every value in [0, 1]."""

    mean: Rate | None
    ci_low: Rate | None
    ci_high: Rate | None


class NonNegativeInterval(Interval):
    mean: NonNegative | None
    ci_low: NonNegative | None
    ci_high: NonNegative | None


PASS_HAT_K = re.compile(r"^pass\^[0-9]+$")


class Metrics(_Open):
    """A cell's metrics, each an interval or null (no episode defines it). Further metrics are accepted
    (an interval, or a number or text such as a count or the reason a metric is undefined);
    ``pass^k`` ones are rates."""

    __pydantic_extra__: dict[str, Interval | Scalar | dict[str, Any] | list[Any]]

    success_rate: RateInterval | None = None
    progress: RateInterval | None = None
    invalid_action_rate: RateInterval | None = None
    normalized_score: Interval | None = None
    return_: Interval | None = Field(default=None, alias="return")
    proxy_return: Interval | None = None
    score_gap: Interval | None = None
    excess_steps: Interval | None = None
    value_regret: Interval | None = None
    steps: NonNegativeInterval | None = None
    tokens: NonNegativeInterval | None = None
    tokens_per_success: NonNegativeInterval | None = None
    cost_usd: NonNegativeInterval | None = None

    @model_validator(mode="after")
    def _further_intervals(self) -> Metrics:
        """An extra value with a ``mean`` is an interval (a rate for ``pass^k``) and must be a valid one."""
        for name, value in (self.__pydantic_extra__ or {}).items():
            rate = bool(PASS_HAT_K.match(name))
            if isinstance(value, Interval):
                value = value.model_dump()
            elif not isinstance(value, Mapping) or "mean" not in value:
                if rate and value is not None:
                    raise ConfigError(f"{name} must be an interval or null")
                continue
            try:
                (RateInterval if rate else Interval).model_validate(value)
            except ValidationError as err:
                raise ConfigError(f"{name}: " + "; ".join(
                    f"{'.'.join(map(str, e['loc'])) + ': ' if e['loc'] else ''}{e['msg'].removeprefix('Value error, ')}"
                    for e in err.errors())) from None
        return self


class SuiteInfo(_Open):
    name: Name
    version: Count = Field(description="Bumped whenever a change can move a score.")
    hash: Sha256 = Field(description="SHA-256 of the resolved suite spec.")


class Provenance(_Open):
    """Where and how the numbers were made. Credentials are redacted before anything is written."""

    agentgym_version: Text
    git_commit: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{7,64}$")] | None
    python: Text
    torch: Text | None = None
    gymnasium: Text | None = None
    platform: Text
    created_at: Timestamp
    executor: Text
    workers: Annotated[int, Field(ge=1, le=100_000)]
    command: Text | None = None


class CellResult(_Open):
    """One cell (env x agent x reward variant x split): counts and metrics."""

    cell: str = Field(max_length=4 * MAX_NAME_CHARS + 3, description="env|agent|reward|split.")
    env: Name
    agent: Name
    reward: Name
    split: Name
    episodes: Count = Field(description="Scored episodes: ok and agent_error.")
    failed: Count = Field(description="Episodes the harness or env failed; > 0 makes the cell incomplete.")
    incomplete: bool = Field(default=False, description="failed > 0: --resume re-runs those episodes.")
    reference: bool = False
    seeds: list[Seed] = Field(default_factory=list)
    metrics: Metrics

    @model_validator(mode="after")
    def _consistent(self) -> CellResult:
        expected = f"{self.env}|{self.agent}|{self.reward}|{self.split}"
        if self.cell != expected:
            raise ConfigError(f"cell {self.cell!r} should be {expected!r}")
        if self.incomplete != (self.failed > 0):
            raise ConfigError(f"incomplete is {self.incomplete} but failed is {self.failed}")
        return self


class AgentAggregate(_Open):
    envs: list[TaskLabel] = Field(description="The tasks (env|split) the entry was scored on.")
    iqm_normalized_score: Interval | None = None
    mean_success_rate: RateInterval | None = None


class Improvement(RateInterval):
    """P(x > y) on the tasks both were scored on."""

    x: AgentKey
    y: AgentKey
    envs: list[str]


class RecipeRow(_Open):
    env: Name
    split: Name
    recipe: Name
    reward: Name
    train_seeds: list[Seed]
    episodes: Count
    failed: Count
    metrics: Metrics
    probability_of_improvement_vs_env: RateInterval | None = None
    reward_diagnostics: dict[str, Any] | None = None


class Aggregates(_Open):
    by_agent: dict[AgentKey, AgentAggregate] = Field(min_length=1, description="Keyed by agent|reward.")
    probability_of_improvement: list[Improvement] = Field(default_factory=list)
    recipes: list[RecipeRow] = Field(default_factory=list)


class Results(_Open):
    """``results.json``: a run's cells, aggregates and provenance, beside its ``episodes.jsonl``."""

    schema_version: Literal[2] = Field(description="Version of this format.")
    suite: SuiteInfo
    provenance: Provenance
    episodes_file: FileName = Field(description="The episodes file, in the folder of results.json.")
    episodes_sha256: Sha256
    bootstrap_seed: Seed = Field(description="Seed of every bootstrap, so the numbers can be recomputed.")
    n_episodes: Count = Field(description="Scored episodes of all cells.")
    n_failed: Count = Field(description="Harness failures of all cells.")
    cells: list[CellResult] = Field(min_length=1)
    aggregates: Aggregates

    @model_validator(mode="after")
    def _consistent(self) -> Results:
        problems = []
        seen: set[str] = set()
        for cell in self.cells:
            if cell.cell in seen:
                problems.append(f"cell {cell.cell!r} is listed twice")
            seen.add(cell.cell)
        episodes, failed = sum(c.episodes for c in self.cells), sum(c.failed for c in self.cells)
        if self.n_episodes != episodes:
            problems.append(f"n_episodes {self.n_episodes} differs from the cells' total of {episodes}")
        if self.n_failed != failed:
            problems.append(f"n_failed {self.n_failed} differs from the cells' total of {failed}")
        pairs = {f"{c.agent}|{c.reward}" for c in self.cells}
        problems += [f"aggregates.by_agent[{key!r}]: no cell has agent|reward {key!r}"
                     for key in self.aggregates.by_agent if key not in pairs]
        if problems:
            raise ConfigError("; ".join(problems))
        return self


# ---------------------------------------------------------------- leaderboard


class BoardEntry(_Closed):
    """One agent under one reward variant, as submitted."""

    agent: Name
    reward: Name
    envs: list[TaskLabel] = Field(description="Tasks scored on; entries rank only against the same set.")
    n_episodes: Count | None = None
    iqm_normalized_score: Interval | None
    mean_success_rate: RateInterval | None


class Submission(_Closed):
    id: Sha256 = Field(description="SHA-256 of the canonical JSON of the submitted results.")
    submitted_at: Timestamp
    label: Label | None
    suite: SuiteInfo
    results_schema_version: Literal[2]
    provenance: Provenance
    episodes_sha256: Sha256
    episodes_verified: bool = Field(description="The episodes file was present, matched its checksum, and every "
                                                "number was recomputed from it and matched.")
    entries: list[BoardEntry]


class Board(_Closed):
    """``leaderboard.json``: accepted submissions, in the order they arrived."""

    schema_version: Literal[2]
    notes: list[Text] = Field(default_factory=list, description="What happened to the board (migrations).")
    submissions: list[Submission]

    @model_validator(mode="after")
    def _unique_ids(self) -> Board:
        ids = [sub.id for sub in self.submissions]
        repeated = sorted({i[:12] for i in ids if ids.count(i) > 1})
        if repeated:
            raise ConfigError(f"submission ids repeat: {', '.join(repeated)}")
        return self


# ---------------------------------------------------------------- schemas

SCHEMA_MODELS: dict[str, type[BaseModel]] = {"results": Results, "leaderboard": Board}
_SCHEMA_HEADERS = {
    "results": ("agentgym results.json", "Summary of one benchmark run, written by the runner beside its "
                "episodes.jsonl. Generated from agentgym.records.Results; do not edit."),
    "leaderboard": ("agentgym leaderboard.json", "Accepted submissions, written only by "
                    "agentgym.leaderboard.submit_results. Generated from agentgym.records.Board; do not edit."),
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``results`` or ``leaderboard``, generated from its model."""
    if name not in SCHEMA_MODELS:
        raise ConfigError(f"no schema {name!r}; expected one of {tuple(SCHEMA_MODELS)}")
    title, description = _SCHEMA_HEADERS[name]
    body = SCHEMA_MODELS[name].model_json_schema(mode="validation")
    body.pop("title", None)
    body.pop("description", None)
    metrics = body.get("$defs", {}).get("Metrics")
    if metrics is not None:  # pass^k are rates; a $ref in json_schema_extra would confuse pydantic's ref tracking
        metrics["patternProperties"] = {PASS_HAT_K.pattern: {"anyOf": [{"$ref": "#/$defs/RateInterval"},
                                                                        {"type": "null"}]}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"urn:agentgym:{name}.schema.json",
            "title": title, "description": description, **body}


def schema_text(name: str) -> str:
    """The text of the schema file ``<name>.schema.json``."""
    return json.dumps(json_schema(name), indent=2, ensure_ascii=True) + "\n"


def write_schemas(folder: str | Path) -> list[Path]:
    """Write ``results.schema.json`` and ``leaderboard.schema.json`` into ``folder``."""
    paths = []
    for name in SCHEMA_MODELS:
        path = Path(folder) / f"{name}.schema.json"
        path.write_text(schema_text(name), encoding="utf-8")
        paths.append(path)
    return paths


def is_finite_number(value: Any) -> bool:
    """A number (not a bool) that converts to a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


if __name__ == "__main__":
    for written in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "leaderboard"):
        print(f"wrote {written}")
