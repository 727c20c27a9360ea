"""The tool-use family: exact oracle, replanning, random baseline, robust parsing, safe arithmetic, safety."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentgym
from agentgym.envs.tooluse.calls import Call, InvalidCall, parse_call
from agentgym.envs.tooluse.safe_eval import UnsafeExpression, safe_eval
from agentgym.envs.tooluse.tasks import Answer
from agentgym.envs.tooluse.tools import TOOLS

IDS = ["agentgym/ToolUse-Easy-v0", "agentgym/ToolUse-Medium-v0", "agentgym/ToolUse-Hard-v0"]
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def split_seeds(env_id: str, count: int) -> list[int]:
    return agentgym.env_spec(env_id).card.splits["test"].seeds()[:count]


def finish_with_oracle(env) -> tuple[dict, int]:
    """Follow the oracle to the end of the episode: (last info, steps taken)."""
    oracle, steps = env.get_wrapper_attr("oracle"), 0
    while True:
        _, _, terminated, truncated, info = env.step(oracle())
        steps += 1
        assert info["reward_vector"]["safety"] == 0.0 and not info["invalid_action"]
        if terminated or truncated:
            return info, steps


def test_ids_are_registered_with_tooluse_cards():
    assert set(IDS) <= set(agentgym.env_ids())
    steps = []
    for env_id in IDS:
        spec = agentgym.env_spec(env_id)
        card = spec.card
        assert card.family == "tooluse" and card.oracle == "exact" and card.oracle_always_succeeds
        assert card.version == 0 and card.changelog and set(card.views) == {"text", "vector"}
        assert card.splits["train"].start == 0 and card.splits["test"].start == 100000
        assert list(card.aspects) == list(agentgym.make(env_id).unwrapped.aspects)
        steps.append(spec.max_episode_steps)
    assert steps == sorted(steps)


@pytest.mark.parametrize("view", ["vector", "text"])
@pytest.mark.parametrize("env_id", IDS)
def test_oracle_succeeds_with_zero_regret(env_id, view):
    env = agentgym.make(env_id, view=view)
    hops = set()
    for seed in split_seeds(env_id, 200):
        env.reset(seed=seed)
        hops.add(env.unwrapped._task.hops)
        if view == "text":
            label = env.get_wrapper_attr("oracle")()
            assert isinstance(label, str) and parse_call(label, env.unwrapped._tools) == env.unwrapped._oracle_call()
        info, steps = finish_with_oracle(env)
        assert info["success"] and info["progress"] == 1.0, (env_id, view, seed)
        assert steps == info["plan_length"], (env_id, view, seed)
        assert info["reward_vector"]["efficiency"] == 0.0 and info["env_reward"] == 1.0
    assert hops == {"agentgym/ToolUse-Easy-v0": {1}, "agentgym/ToolUse-Medium-v0": {2, 3},
                    "agentgym/ToolUse-Hard-v0": {4}}[env_id]


@pytest.mark.parametrize("env_id", IDS)
def test_oracle_replans_after_random_calls(env_id):
    rng = np.random.default_rng(1)
    garbage = ["", "help", "lookup_item()", '{"tool": "nope"}', "submit(answer=", "recall(key=1)"]
    for view in ("vector", "text"):
        env = agentgym.make(env_id, view=view)
        recovered = 0
        for seed in split_seeds(env_id, 60):
            env.reset(seed=seed)
            done = False
            for _ in range(int(rng.integers(1, 7))):
                if view == "vector":
                    action = int(rng.integers(8))
                elif rng.random() < 0.3:
                    action = garbage[int(rng.integers(len(garbage)))]
                else:  # a random menu entry, typed as text
                    labels = env.unwrapped.action_labels()
                    action = labels[int(rng.integers(len(labels)))]
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    done = True
                    break
            if done:  # a random submit ended the episode: nothing to recover from
                continue
            info, _ = finish_with_oracle(env)
            assert info["success"], (env_id, view, seed)
            recovered += 1
        assert recovered >= 20


@pytest.mark.parametrize("env_id", IDS)
def test_random_agent_is_far_below_the_oracle(env_id):
    env = agentgym.make(env_id)
    rng = np.random.default_rng(0)
    successes = []
    for seed in split_seeds(env_id, 200):
        env.reset(seed=seed)
        while True:
            mask = env.get_wrapper_attr("action_masks")()
            _, _, terminated, truncated, info = env.step(int(rng.choice(np.flatnonzero(mask))))
            if terminated or truncated:
                break
        successes.append(info["success"])
    rate = float(np.mean(successes))
    print(f"\n{env_id}: random agent success rate {rate:.3f} over 200 test seeds (oracle: 1.000)")
    assert rate <= 0.5


# ----------------------------------------------------------------------------- robustness
def fresh(view: str = "text", env_id: str = "agentgym/ToolUse-Hard-v0", seed: int = 100000):
    env = agentgym.make(env_id, view=view)
    env.reset(seed=seed)
    return env


def assert_invalid(env, action) -> None:
    observation, _reward, terminated, _truncated, info = env.step(action)
    assert info["invalid_action"] and info["reward_vector"]["validity"] == -1.0 and not terminated
    assert isinstance(observation, str) and all(32 <= ord(c) < 127 or c in "\n\t\r\x0b\x0c" for c in observation)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@PROPERTY
@given(st.text(max_size=300))
def test_arbitrary_text_never_crashes(text):
    env = fresh()
    _, _, _, _, info = env.step(text)
    assert isinstance(info["invalid_action"], bool)
    if "(" not in text and "{" not in text:
        assert info["invalid_action"] and info["reward_vector"]["validity"] == -1.0


@PROPERTY
@given(json_values)
def test_arbitrary_json_values_are_invalid(value):
    env = fresh()
    if not isinstance(value, str):
        assert_invalid(env, value)  # a non-string action
    dumped = json.dumps(value)
    if not (isinstance(value, dict) and "tool" in value):
        assert_invalid(env, dumped)
    vector = fresh("vector")
    _, _, _, _, info = vector.step(value)
    try:  # the vector view reads a menu index as the base class does
        in_menu = 0 <= int(value) < 8
    except (TypeError, ValueError, OverflowError):
        in_menu = False
    assert info["invalid_action"] == (not in_menu)


def well_typed(tool: str, args: dict) -> bool:
    """Independent statement of a valid call: exactly the declared arguments, each of its declared type."""
    params = dict(TOOLS[tool].params)
    if set(args) != set(params):
        return False
    for name, kind in params.items():
        value = args[name]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(value, str) and "str" in kind and len(value) <= 200:
            continue
        if number and kind != "str" and math.isfinite(value) and abs(value) <= 1e12:
            if kind != "int" or value == int(value):
                continue
        return False
    return True


@PROPERTY
@given(st.sampled_from([*sorted(TOOLS), "nope", "Lookup_item", "eval"]),
       st.dictionaries(st.sampled_from(["name", "key", "value", "amount", "days", "answer", "x"]),
                       st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5), max_size=3),
       st.booleans())
def test_near_miss_calls_are_invalid_unless_well_typed(tool, args, as_json):
    env = fresh()
    listed = env.unwrapped._tools
    if as_json:
        action = json.dumps({"tool": tool, "args": args})
    else:
        action = f"{tool}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"
    expected_valid = tool in listed and well_typed(tool, args)
    if not as_json:  # repr of nan/inf/None/True is a name, not a literal
        expected_valid = expected_valid and all(isinstance(v, str) or math.isfinite(v) for v in args.values())
    _, _, _terminated, _, info = env.step(action)
    assert info["invalid_action"] == (not expected_valid), action
    assert info["reward_vector"]["validity"] == (0.0 if expected_valid else -1.0)


@PROPERTY
@given(st.sampled_from(["drop", "extra", "rename", "retype", "typo"]), st.integers(0, 7), st.booleans())
def test_mutated_oracle_calls_are_invalid(mutation, slot, as_json):
    env = fresh(seed=100000 + slot)
    call = env.unwrapped._oracle_call()
    args = call.kwargs()
    tool = call.tool
    first = next(iter(args))
    if mutation == "drop":
        args.pop(first)
    elif mutation == "extra":
        args["extra"] = 1
    elif mutation == "rename":
        args[first + "_"] = args.pop(first)
    elif mutation == "retype":
        args[first] = [args[first]]
    else:
        tool = tool[:-1]
    action = json.dumps({"tool": tool, "args": args}) if as_json else (
        f"{tool}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    assert_invalid(env, action)


CODE = [
    "__import__('pathlib').Path({path!r}).touch()",
    "lookup_item(name=__import__('pathlib').Path({path!r}).touch())",
    "lookup_item(name=open({path!r}, 'w').write('x'))",
    "(lambda: __import__('pathlib').Path({path!r}).touch())()",
    "[__import__('pathlib').Path({path!r}).touch() for _ in range(1)]",
    "lookup_item(name=[__import__('pathlib').Path({path!r}).touch()][0])",
    "lookup_item.__globals__['__builtins__']",
    "lookup_item(name='x'.join([{path!r}]))",
    "lookup_item(**{{'name': {path!r}}})",
    "lookup_item(*[{path!r}])",
    "exec(\"__import__('pathlib').Path({path!r}).touch()\")",
    "eval(\"__import__('pathlib').Path({path!r}).touch()\")",
    "lookup_item(name=f'{{__import__(\"pathlib\").Path({path!r}).touch()}}')",
    "calculate(expression=1 + 1)",
    "submit(answer=(1, 2))",
]


@pytest.mark.parametrize("template", CODE)
def test_code_is_never_run(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = "pwned"
    env = fresh()
    assert_invalid(env, template.format(path=path))
    _, _, _, _, info = env.step(f"calculate(expression={template.format(path=path)!r})")
    assert not info["invalid_action"] and "cannot evaluate" in env.unwrapped._history[-1]
    assert not (tmp_path / "pwned").exists()


# -------------------------------------------------------------------------- safe evaluator
@pytest.mark.parametrize("expression", [
    "x", "abs(-1)", "(1).real", "[1][0]", "9**9**9", "10**1000", "2 ** 101", "2 ** -101", "10**100 * 10",
    "1e101", "1" * 201, "1 if 1 else 2", "1 < 2", "True + 1", "'a' * 3", "1j", "1 // 2", "7 % 3", "+1", "~1",
    "1 / 0", "0 ** -1", "(-8) ** 0.5", "lambda: 1", "__import__('os')", "", "1 +", "(" * 300 + "1" + ")" * 300,
])
def test_safe_eval_refuses(expression):
    with pytest.raises(UnsafeExpression):
        safe_eval(expression)


def test_safe_eval_accepts_the_allowed_subset():
    assert safe_eval("2 ** 100") == 2**100 and safe_eval("-(3 - 5) * 2 / 8") == 0.5
    assert safe_eval("10 ** 100") == 10**100 and safe_eval(" 1.5e3 ") == 1500.0


leaves = (st.integers(0, 50) | st.floats(0, 50).map(lambda x: round(x, 3))).map(repr)
signed = leaves | leaves.map(lambda x: f"(-{x})")
exponents = st.sampled_from(["-2", "-1", "0", "1", "2", "3", "0.5"])
powers = st.tuples(signed, exponents).map(lambda t: f"({t[0]} ** {t[1]})")
expressions = st.recursive(
    signed | powers,
    lambda inner: st.tuples(inner, st.sampled_from("+-*/"), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")
    | inner.map(lambda x: f"-{x}"),
    max_leaves=8,
)


@PROPERTY
@given(expressions)
def test_safe_eval_matches_python(expression):
    try:  # Python itself, on an expression this test built from digits and operators
        expected = eval(compile(expression, "<test>", "eval"), {"__builtins__": {}})
    except ZeroDivisionError:
        expected = None
    try:
        got = safe_eval(expression)
    except UnsafeExpression:
        assert expected is None or isinstance(expected, complex), expression
        return
    assert type(got) is type(expected) and (got == expected or (math.isnan(got) and math.isnan(expected)))


@PROPERTY
@given(st.text(max_size=250))
def test_safe_eval_only_raises_unsafe_expression(text):
    try:
        value = safe_eval(text)
    except UnsafeExpression:
        return
    assert type(value) in (int, float) and abs(value) <= 1e100


# ------------------------------------------------------------------------- safety, seeds
def task_env(shape: str, env_id: str = "agentgym/ToolUse-Hard-v0", view: str = "text"):
    env = agentgym.make(env_id, view=view)
    for seed in split_seeds(env_id, 100):
        env.reset(seed=seed)
        if env.unwrapped._task.shape == shape:
            return env
    raise AssertionError(f"no {shape} task in 100 seeds")


def test_unneeded_risky_calls_are_unsafe():
    env = task_env("capital")
    invoice = next(iter(env.unwrapped._world.invoices.values()))
    for action in [f"delete_record(record_id={invoice.customer_id!r})",
                   f"send_email(to={invoice.email!r}, subject='hi', body='hello')",
                   f"make_payment(invoice_id={invoice.invoice_id!r}, amount={invoice.amount!r})"]:
        _, reward, _, _, info = env.step(action)
        assert info["reward_vector"]["safety"] == -1.0 and not info["invalid_action"] and reward <= -1.0
    info, _ = finish_with_oracle(env)
    assert info["success"]


def test_a_needed_payment_is_safe_once():
    env = task_env("payment")
    payment = next(call for call in env.unwrapped._task.plan if call.tool == "make_payment")
    _, _, _, _, info = env.step(payment.label())
    assert info["reward_vector"]["safety"] == 0.0
    _, _, _, _, info = env.step(payment.label())  # paying twice is not needed
    assert info["reward_vector"]["safety"] == -1.0
    wrong = Call("make_payment", (("invoice_id", payment.kwargs()["invoice_id"]), ("amount", 1.0)))
    _, _, _, _, info = env.step(wrong.label())
    assert info["reward_vector"]["safety"] == -1.0
    info, _ = finish_with_oracle(env)
    assert info["success"]


def test_submitting_without_the_needed_side_effect_fails():
    env = task_env("payment")
    _, _, terminated, _, info = env.step(env.unwrapped._task.submit_call().label())
    assert terminated and not info["success"] and info["reward_vector"]["task"] == 0.0


@pytest.mark.parametrize("view", ["vector", "text"])
def test_same_seed_same_task_and_seeds_differ(view):
    env = agentgym.make("agentgym/ToolUse-Medium-v0", view=view)
    first, _ = env.reset(seed=5)
    labels = env.unwrapped.action_labels()
    second, _ = env.reset(seed=5)
    assert np.array_equal(first, second) if view == "vector" else first == second
    assert env.unwrapped.action_labels() == labels
    questions = set()
    for seed in range(40):
        env.reset(seed=seed)
        questions.add(env.unwrapped._task.question)
    assert len(questions) >= 38


# --------------------------------------------------------------------------- the views
def test_both_call_forms_and_labels_parse_to_the_same_call():
    env = fresh()
    listed = env.unwrapped._tools
    expected = Call("get_rate", (("source", "ZOR"), ("target", "KEP")))
    for text in ['get_rate(source="ZOR", target="KEP")', "get_rate('ZOR', target='KEP')", "`get_rate('ZOR', 'KEP')`",
                 '{"tool": "get_rate", "args": {"source": "ZOR", "target": "KEP"}}']:
        assert parse_call(text, listed) == expected
    with pytest.raises(InvalidCall):
        parse_call("get_rate('ZOR', 'KEP', 'LUM')", listed)
    for env_id in IDS:
        vector = agentgym.make(env_id)
        for seed in range(20):
            vector.reset(seed=seed)
            for call, label in zip(vector.unwrapped._menu, vector.unwrapped.action_labels()):
                assert parse_call(label, vector.unwrapped._tools) == call


def test_views_info_and_observation():
    text = fresh()
    observation, info = text.reset(seed=100001)
    assert info["admissible_actions"] is None and "submit(answer: str | float)" in observation
    assert "[irreversible]" in observation and "Task:" in observation
    vector = fresh("vector")
    observation, info = vector.reset(seed=100001)
    assert vector.observation_space.contains(observation) and vector.action_space.n == 8
    assert vector.get_wrapper_attr("action_masks")().all() and len(vector.unwrapped.admissible_actions()) == 8


def test_answers_and_progress():
    assert Answer(12.5, "money").matches(12.509) and Answer(12.5, "money").matches("12.49")
    assert not Answer(12.5, "money").matches(12.52) and not Answer(12.5, "money").matches(True)
    assert Answer(17, "int").matches(17.0) and not Answer(17, "int").matches(18)
    assert Answer("Tuesday", "text").matches(" tuesday ") and not Answer("Tuesday", "text").matches("Wednesday")
    env = task_env("payment", "agentgym/ToolUse-Medium-v0", "vector")
    plan = env.unwrapped._task.plan
    env.step(env.get_wrapper_attr("oracle")())
    assert env.unwrapped.outcome() == (False, 1 / (len(plan) + 1))
    while True:  # use up the steps without submitting: truncated with partial progress
        menu = env.unwrapped._menu
        index = next(i for i, call in enumerate(menu) if call.tool not in ("submit", "make_payment"))
        _, _, terminated, truncated, info = env.step(index)
        if terminated or truncated:
            break
    assert truncated and not info["success"]
    assert info["progress"] == pytest.approx(sum(map(env.unwrapped._step_done, plan)) / (len(plan) + 1))
