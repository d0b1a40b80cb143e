"""Fuzz the input reader outside pytest: N generated layouts of one dataset, and a table.

Runs the generator and property of ``tests/io/test_fuzz_read.py`` (every example embeds exactly as
the canonical data, or raises ``xa.XauroraError`` naming the variable as the user does) on
``--n`` new examples, and prints how many were tried, exact, named errors and wrong, with the
first few wrong examples described. Exits 1 when any example is wrong.

    .venv/bin/python benchmarks/bench_fuzz_read.py --n 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests package


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="examples to try (default 5000)")
    parser.add_argument("--seed", type=int, default=None,
                        help="Hypothesis seed (default: a new one each run)")
    parser.add_argument("--show", type=int, default=5, help="wrong examples to describe")
    args = parser.parse_args(argv)

    import torch
    from hypothesis import HealthCheck, Phase, given, seed, settings

    from tests.io.test_fuzz_read import model_and_reference, outcome, variants

    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    model, base, ref = model_and_reference()
    counts: Counter = Counter()
    wrong: list[tuple[str, str]] = []
    kinds: Counter = Counter()
    layouts: Counter = Counter()
    spent: Counter = Counter()

    # every example is judged and counted, none fails: Hypothesis generates without shrinking
    @settings(max_examples=args.n, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(v=variants())
    def run(v):
        t0 = time.perf_counter()
        result, detail = outcome(v, model, base, ref)
        spent[v.chunking] += time.perf_counter() - t0
        layouts[v.chunking] += 1
        counts[result] += 1
        kinds[v.corruption or "clean"] += 1
        if result == "wrong":
            wrong.append((v.describe(), detail))

    if args.seed is not None:
        run = seed(args.seed)(run)
    start = time.perf_counter()
    run()
    took = time.perf_counter() - start
    tried = sum(counts.values())
    rows = [("examples tried", tried), ("exact", counts["exact"]),
            ("named errors", counts["named error"]), ("wrong", counts["wrong"])]
    width = max(len(r[0]) for r in rows)
    print(f"fuzz of the input reader ({took:.0f} s, {took / max(tried, 1) * 1000:.0f} ms/example)")
    for name, n in rows:
        print(f"  {name:<{width}}  {n:>6}")
    print("  by corruption: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print("  by chunking:   " + ", ".join(
        f"{k} {n} ({spent[k] / n * 1000:.0f} ms each)" for k, n in sorted(layouts.items())))
    for i, (example, detail) in enumerate(wrong[: args.show], 1):
        print(f"wrong #{i}: {detail}\n  example: {example}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
