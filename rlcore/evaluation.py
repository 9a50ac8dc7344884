"""Evaluation statistics and the results.json protocols map, for any system.

A results document (what `evaluate` returns and results.json holds) has the headline scalars
(`mean_reward`, `std_reward`: the Hub's model-index reads them), `seeds`, per-episode figures under
`episodes` (a list of {"seed", "return", ...}; boolean fields such as Mario's `flag_get` are
successes), and the `protocol` it was evaluated under: {"name", and the settings that define it}.
A file that gathers several protocols keeps each full document in a `protocols` map keyed by
protocol name ("greedy", "sticky_0.25", "epsilon_0.05", ...) and the headline protocol's scalars
at the top level (greedy when evaluated, else the latest):

    {"mean_reward": ..., "std_reward": ..., "protocol": {"name": "greedy", ...},
     "protocols": {"greedy": {...}, "sticky_0.25": {...}}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAX_EPISODES = 1_000
HEADLINE_PROTOCOL = "greedy"
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile
BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # fixed: the same comparison always reports the same interval


def check_episodes(episodes: int) -> int:
    if not 1 <= episodes <= MAX_EPISODES:
        raise ValueError(f"episodes must be between 1 and {MAX_EPISODES:,}, got {episodes}")
    return episodes


def protocol_name(settings: Mapping[str, float]) -> str:
    """'greedy' when every setting is 0, else the non-zero ones: {'sticky': 0.25} -> 'sticky_0.25'."""
    parts = [f"{key}_{value:g}" for key, value in settings.items() if value]
    return "_".join(parts) or HEADLINE_PROTOCOL


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default); sound at 0/n and n/n."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_summary(successes: Sequence[bool]) -> dict[str, Any]:
    """Count, rate and 95% Wilson interval of a list of per-episode successes."""
    count = int(sum(bool(s) for s in successes))
    low, high = wilson_interval(count, len(successes))
    return {"count": count, "rate": round(count / len(successes), 4), "ci95": [round(low, 4), round(high, 4)]}


def bootstrap_mean_interval(
    values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean (resampling episodes with replacement)."""
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def mcnemar_p_value(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar test: a binomial(only_a + only_b, 1/2) test on the discordant pairs."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """B - A per pair, its mean and a 95% paired-bootstrap interval of the mean."""
    diffs = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    low, high = bootstrap_mean_interval(diffs)
    return {
        "mean_a": float(np.mean(a)),
        "mean_b": float(np.mean(b)),
        "mean_difference": float(diffs.mean()),
        "ci95": [low, high],
        "interval": f"paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples",
    }


def paired_successes(a: Sequence[bool], b: Sequence[bool]) -> dict[str, Any]:
    """McNemar's table of two success lists on the same seeds, the rate difference B - A with its
    paired-bootstrap interval, and the exact McNemar p-value."""
    pairs = [(bool(x), bool(y)) for x, y in zip(a, b, strict=True)]
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    low, high = bootstrap_mean_interval([int(y) - int(x) for x, y in pairs])
    return {
        "both": sum(x and y for x, y in pairs),
        "only_a": only_a,
        "only_b": only_b,
        "neither": sum(not (x or y) for x, y in pairs),
        "rate_a": sum(x for x, _ in pairs) / len(pairs),
        "rate_b": sum(y for _, y in pairs) / len(pairs),
        "rate_difference": (only_b - only_a) / len(pairs),
        "ci95": [low, high],
        "mcnemar_p": mcnemar_p_value(only_a, only_b),
    }


def compare_results(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Paired comparison of two results documents evaluated on the same seeds: the return, and every
    boolean per-episode field (a success, e.g. reaching a goal)."""
    episodes_a, episodes_b = list(a["episodes"]), list(b["episodes"])
    seeds = [e["seed"] for e in episodes_a]
    if seeds != [e["seed"] for e in episodes_b]:
        raise ValueError("a paired comparison needs both evaluations on the same seeds")
    successes = [key for key, value in episodes_a[0].items() if isinstance(value, bool)]
    comparison: dict[str, Any] = {
        "seeds": seeds,
        "protocol": a.get("protocol"),
        "return": paired_difference([e["return"] for e in episodes_a], [e["return"] for e in episodes_b]),
    }
    for key in successes:
        comparison[key] = paired_successes([e[key] for e in episodes_a], [e[key] for e in episodes_b])
    comparison["per_seed"] = [
        {
            "seed": x["seed"],
            "return_a": x["return"],
            "return_b": y["return"],
            "return_difference": round(y["return"] - x["return"], 4),
            **{f"{key}_{side}": e[key] for key in successes for side, e in (("a", x), ("b", y))},
        }
        for x, y in zip(episodes_a, episodes_b)
    ]
    return comparison


# ------------------------------------------------------------------------ the protocols map


def protocols_of(results: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every protocol a results document holds, by name (a single-protocol or older document: one)."""
    if not results:
        return {}
    if isinstance(results.get("protocols"), Mapping):
        return {name: dict(doc) for name, doc in results["protocols"].items() if isinstance(doc, Mapping)}
    if results.get("mean_reward") is None:
        return {}
    protocol = results.get("protocol")
    name = protocol.get("name") if isinstance(protocol, Mapping) else None
    return {name or HEADLINE_PROTOCOL: dict(results)}  # documents written before protocols were greedy


def merge_protocol(existing: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """`existing` with `new` added to (or replacing its run of) the same protocol; the headline
    scalars at the top level come from the greedy protocol when there is one."""
    protocols = protocols_of(existing)
    protocols[new["protocol"]["name"]] = {k: v for k, v in new.items() if k != "protocols"}
    headline = protocols.get(HEADLINE_PROTOCOL) or protocols[new["protocol"]["name"]]
    top = {k: v for k, v in headline.items() if not isinstance(v, list)}  # per-episode lists stay in the map
    return {**top, "protocols": protocols}


# ------------------------------------------------------------------------ readable summaries


def describe_protocol(protocol: Mapping[str, Any] | None) -> str:
    """'sticky_0.25 (sticky 0.25, epsilon 0, noop_max 30, max_steps 3000)'."""
    if not protocol:
        return HEADLINE_PROTOCOL
    settings = ", ".join(
        f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in protocol.items()
        if k not in ("name", "first_seed", "episodes")
    )
    return f"{protocol.get('name', '?')} ({settings})" if settings else str(protocol.get("name", "?"))


def _episode_lines(episodes: list[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """One line per per-episode figure: successes as a rate with its Wilson interval,
    numbers as mean +/- std."""
    lines = []
    for key, value in episodes[0].items():
        values = [e[key] for e in episodes]
        if key == "seed":
            continue
        if isinstance(value, bool):
            rate = rate_summary(values)
            low, high = rate["ci95"]
            lines.append(
                (
                    f"{key} rate",
                    f"{rate['count']}/{len(values)} = {rate['rate']:.1%} "
                    f"(95% Wilson interval {low:.1%} - {high:.1%})",
                )
            )
        elif isinstance(value, (int, float)):
            data = np.asarray(values, dtype=np.float64)
            lines.append(
                (key, f"{data.mean():.2f} +/- {data.std():.2f} (min {data.min():.4g}, max {data.max():.4g})")
            )
    return lines


def results_summary(results: Mapping[str, Any]) -> str:
    """A results document as a few aligned lines (the protocol, then one line per figure)."""
    seeds = results.get("seeds") or []
    seed_text = f"seeds {seeds[0]}-{seeds[-1]}" if seeds else "seeds ?"
    rows = [
        (
            "checkpoint",
            f"{results.get('env_id', '?')}, {results.get('n_eval_episodes', len(seeds))} episodes, "
            f"{seed_text}",
        ),
        ("protocol", describe_protocol(results.get("protocol"))),
    ]
    episodes = results.get("episodes")
    if isinstance(episodes, list) and episodes and isinstance(episodes[0], Mapping):
        rows += _episode_lines(episodes)
    else:
        rows.append(
            ("return", f"{results['mean_reward']:.2f} +/- {results.get('std_reward', float('nan')):.2f}")
        )
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows)


def comparison_table(comparison: Mapping[str, Any], max_rows: int = 30) -> str:
    """Per-seed figures (up to `max_rows` seeds) and the paired summaries of a compare_results document."""
    successes = [k for k, v in comparison.items() if isinstance(v, Mapping) and "mcnemar_p" in v]
    header = ["seed", "return A", "return B", "B - A", *[f"{k} A/B" for k in successes]]
    rows = [header]
    for pair in comparison["per_seed"][:max_rows]:
        rows.append(
            [
                str(pair["seed"]),
                f"{pair['return_a']:.2f}",
                f"{pair['return_b']:.2f}",
                f"{pair['return_difference']:+.2f}",
                *[f"{int(pair[k + '_a'])}/{int(pair[k + '_b'])}" for k in successes],
            ]
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    if len(comparison["seeds"]) > max_rows:
        lines.append(f"... {len(comparison['seeds']) - max_rows} more seeds in the JSON (--out)")
    ret = comparison["return"]
    low, high = ret["ci95"]
    lines += [
        "",
        f"A: {comparison.get('a', '?')}",
        f"B: {comparison.get('b', '?')}",
        f"protocol: {describe_protocol(comparison.get('protocol'))}, {len(comparison['seeds'])} paired seeds",
        f"return: A {ret['mean_a']:.2f}, B {ret['mean_b']:.2f}, B - A {ret['mean_difference']:+.2f} "
        f"(95% CI {low:+.2f} to {high:+.2f}, {ret['interval']})",
    ]
    for key in successes:
        pair = comparison[key]
        low, high = pair["ci95"]
        lines.append(
            f"{key}: A {pair['rate_a']:.1%}, B {pair['rate_b']:.1%}, B - A {pair['rate_difference']:+.1%} "
            f"(95% CI {low:+.1%} to {high:+.1%}, paired bootstrap); both {pair['both']}, only A "
            f"{pair['only_a']}, only B {pair['only_b']}, neither {pair['neither']}; exact McNemar "
            f"p = {pair['mcnemar_p']:.3g}"
        )
    return "\n".join(lines)
