"""The generated-stories test, run long: many more whole tickets than `make test` runs, with
a fresh seed each time, to look for stories where heard's messages read wrong together.

    python -m bench.story_search [--examples 1000] [--steps 25] [--seed N]

Prints how many stories ran, and for the first failing one the shortest story hypothesis
found and the invariant it broke; exits 1 then. The invariants are the test's own
(tests/unit/test_story_properties.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)

    from tests.unit.test_story_properties import TicketStory

    TicketStory.TestCase.settings = settings(
        max_examples=args.examples,
        stateful_step_count=args.steps,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    case = hypothesis_seed(seed)(TicketStory.TestCase)("runTest")
    started = time.monotonic()
    print(f"{args.examples} stories of up to {args.steps} events, seed {seed}", flush=True)
    try:
        case.runTest()
    except Exception as exc:  # whatever hypothesis reports (one failure, or a group) is printed, exit 1
        # Each distinct failure with the shortest story hypothesis found for it (its notes).
        for failure in getattr(exc, "exceptions", [exc]):
            print(
                "\n".join(
                    [
                        "-" * 60,
                        f"{type(failure).__name__}: {str(failure)[:1500]}",
                        *getattr(failure, "__notes__", []),
                    ]
                )
            )
        print(f"FAILED after {time.monotonic() - started:.0f} s")
        sys.exit(1)
    print(f"all held, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
