"""The ``unigen`` command: train, sample, eval, list."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unigen.errors import UserError


def _train(args) -> None:
    from unigen.run import train

    if args.resume is None and args.config is None:
        raise UserError("unigen train needs a CONFIG file, or --resume RUN_DIR to continue a run")
    if args.resume is not None and args.config is not None and "=" in args.config:
        args.overrides.insert(0, args.config)  # `train --resume DIR key=value`: no config file given
        args.config = None
    run_dir = train(args.config, args.overrides, out=args.out, resume=args.resume, overwrite=args.overwrite)
    print(f"run written to {run_dir}")
    if (run_dir / "eval.json").is_file():
        print((run_dir / "eval.json").read_text().strip())


#: the most samples one `unigen sample` draws (a larger -n is a typo, and would exhaust memory)
MAX_SAMPLES = 10 ** 6
SAMPLE_FORMATS = (".png",)


def _sample(args) -> None:
    from unigen.rundir import disk_errors
    from unigen.run import load_run, require_run_dir, write_samples

    require_run_dir(args.run_dir)
    if args.num is not None and not 1 <= args.num <= MAX_SAMPLES:
        raise UserError(f"-n {args.num}: draw between 1 and {MAX_SAMPLES:,} samples")
    path = Path(args.output) if args.output else Path(args.run_dir) / "samples.png"
    if path.is_dir():
        raise UserError(f"-o {path} is a directory; name a file in it, e.g. -o {path / 'samples.png'}")
    if path.suffix.lower() not in SAMPLE_FORMATS:
        raise UserError(f"-o {path}: unknown format {path.suffix or '(none)'!r}; use {', '.join(SAMPLE_FORMATS)}")
    if not path.parent.is_dir():
        raise UserError(f"-o {path}: the folder {path.parent} does not exist; create it first")
    built = load_run(args.run_dir, args.device)
    with disk_errors(path.parent):
        write_samples(built, path, args.num)
    print(f"samples written to {path}")


def _eval(args) -> None:
    from unigen.run import evaluate

    print(json.dumps(evaluate(args.run_dir, args.device), indent=2))


def _reproduce(args) -> None:
    from unigen.experiments.common import DEFAULT_RESULTS, run

    results = Path(args.results) if args.results else DEFAULT_RESULTS  # relative to the working directory
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: use at least 1 seed")
    md = run(args.name, quick=args.quick, seeds=args.seeds, device=args.device, results=results,
             cache=Path(args.cache) if args.cache else None)
    print(md.read_text().split("## Protocol")[0].strip())
    print(f"\nresults written to {md} and {md.with_suffix('.json')}")


def _list(args) -> None:
    from unigen.registry import DATASETS, MODELS, STRATEGIES

    for title, reg in (("strategies", STRATEGIES), ("models", MODELS), ("datasets", DATASETS)):
        print(f"{title}:")
        for name, line in reg.describe().items():
            print(f"  {name:<16} {line}")
    from unigen.experiments import REPRODUCTIONS
    from unigen.inference.penalties import PENALTIES

    print("penalties (strategy.penalty=NAME on any adversarial strategy):")
    for name, fn in PENALTIES.items():
        print(f"  {name:<16} {(fn.__doc__ or '').strip().splitlines()[0] if fn.__doc__ else ''}")
    print("reproductions (unigen reproduce NAME):")
    for name in REPRODUCTIONS:
        print(f"  {name}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unigen", description="Train Pyro generative programs with any "
                                "strategy of the unified GAN/VAE view.")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a run from a YAML config")
    t.add_argument("config", nargs="?", help="YAML file (see experiments/configs/)")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=500")
    t.add_argument("--out", help="run directory (default: the config's `out`)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint; key=value "
                   "overrides after it change the run (rate, schedule, steps, ...) and are recorded")
    t.add_argument("--overwrite", action="store_true", help="replace the run files in an existing --out "
                   "(without it, an existing run is refused)")
    t.set_defaults(fn=_train)
    s = sub.add_parser("sample", help="draw samples from a trained run")
    s.add_argument("run_dir")
    s.add_argument("-n", "--num", type=int, default=None, help="number of samples")
    s.add_argument("-o", "--output", help="PNG path (default RUN_DIR/samples.png)")
    s.add_argument("--device", default=None)
    s.set_defaults(fn=_sample)
    e = sub.add_parser("eval", help="evaluate a trained run (writes RUN_DIR/eval.json)")
    e.add_argument("run_dir")
    e.add_argument("--device", default=None)
    e.set_defaults(fn=_eval)
    r = sub.add_parser("reproduce", help="reproduce a published comparison (writes experiments/results/NAME.md)")
    r.add_argument("name", help="hu2018-iwgan, hu2018-aavae, monoflow-toy, monoflow-gan, mode-collapse, "
                   "wgan-disjoint, gp-stabilises")
    r.add_argument("--quick", action="store_true", help="reduced settings that finish in minutes on CPU")
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--device", default="cpu")
    r.add_argument("--results", help="output folder (default ./experiments/results under the working "
                   "directory); --quick writes NAME.quick.md/.json/.png there, never the full NAME.md")
    r.add_argument("--cache", metavar="DIR", help="keep each finished training's result in DIR/NAME; rerunning "
                   "with the same settings reuses them (resumes an interrupted reproduction)")
    r.set_defaults(fn=_reproduce)
    ls = sub.add_parser("list", help="list strategies, models and datasets")
    ls.set_defaults(fn=_list)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:  # `key=value` overrides may follow options such as --out
        if args.command != "train" or any("=" not in e or e.startswith("-") for e in extra):
            p.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    from unigen.run import Interrupted

    try:
        args.fn(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"unigen: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:  # the checkpoint is saved: say how to go on, exit as the signal's convention
        print(f"unigen: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("unigen: interrupted (SIGINT) before any run file was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
