"""Check the synthetic cohort's truth against the evidence and print the tables docs/cohort.md shows.

    .venv/bin/python benchmarks/evidence_check.py --n 200000 --seed 7

Prints, per pain condition: every option's true response rate next to the literature's band (a rate outside its
band is marked NO and makes the exit status 1), the mean true response rate of every option, how often each option
is the true best, how often a strong opioid or carbamazepine is, and the share of patients whose true best is a
first-line option of the guideline catalog (models/guidelines.yaml) with the options that are the true best where
it is not, and, where the first line is seldom the true best, that share by subgroup (osteoarthritis by age and by
kidney, GI-bleeding or cardiovascular risk, fibromyalgia by age, `other` by pain type). The figures are means of true probabilities, so 200,000 patients give them to about 0.001.
"""

from __future__ import annotations

import argparse
import time

from precisionpain.catalog.guidelines import load_guideline_catalog
from precisionpain.catalog.loader import default_treatment_options
from precisionpain.cohort import generate_cohort
from precisionpain.cohort.evidence import band_checks, evidence_markdown, evidence_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="patients to generate (default 200,000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    options = default_treatment_options()
    guidelines = load_guideline_catalog(options)
    t0 = time.perf_counter()
    frame = generate_cohort(args.n, args.seed, options=options)
    print(
        f"cohort: n={args.n:,}, seed={args.seed}, {len(options.ids)} options ({time.perf_counter() - t0:.1f} s)\n"
    )
    print(evidence_markdown(frame, options.ids, guidelines))
    summary = evidence_summary(band_checks(frame))
    print(f"band checks: {summary['checks']}, outside their band: {summary['outside']}")
    return 1 if summary["outside"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
