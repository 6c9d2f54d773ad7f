"""`make bench`: every benchmark, full scale by default, figures printed and saved.

python -m bench                                  # 8M postings, 15,000 cities
python -m bench --postings-lines 1000000 --weather-cities 1000
python -m bench --only launch                    # UI-launched vs demo vs in-process run
python -m bench --only odata                     # OData views vs base tables, 50 customers
python -m bench --only training                  # tag suggestions: overhead, batches in flight
"""

import argparse
import json
from pathlib import Path

from bench import launch, odata, postings, training, weather


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postings-lines", type=int, default=8_000_000)
    parser.add_argument("--postings-files", type=int, default=8)
    parser.add_argument("--per-line-sample", type=int, default=50_000)
    parser.add_argument(
        "--weather-cities", type=int, default=None, help="default: 15,000 (a full day)"
    )
    parser.add_argument("--launch-repeats", type=int, default=2, help="runs of each launch way")
    parser.add_argument("--odata-customers", type=int, default=50)
    parser.add_argument("--training-modules", type=int, default=10_000)
    parser.add_argument(
        "--training-batch-delay", type=float, default=1.0, help="the tagger's seconds per batch"
    )
    parser.add_argument("--training-in-flight", type=int, default=4, help="batches at once")
    parser.add_argument("--only", choices=["postings", "weather", "launch", "odata", "training"])
    parser.add_argument("--out", type=Path, default=Path("bench/out/results.json"))
    args = parser.parse_args(argv)

    results = {}
    if args.only in (None, "postings"):
        results["postings"] = postings.run(
            args.postings_lines, args.postings_files, args.per_line_sample
        )
    if args.only in (None, "weather"):
        results["weather"] = weather.run(
            full_scale=args.weather_cities is None, cities=args.weather_cities
        )
    if args.only in (None, "launch"):
        results["launch"] = launch.run(repeats=args.launch_repeats)
    if args.only in (None, "odata"):
        results["odata"] = odata.run(customers=args.odata_customers)
    if args.only in (None, "training"):
        results["training"] = training.run(
            modules=args.training_modules,
            batch_delay=args.training_batch_delay,
            in_flight=args.training_in_flight,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
