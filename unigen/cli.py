"""The ``unigen`` command: train, config, sample, export, eval, list, reproduce."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import unigen
from unigen.errors import UserError, first_line
from unigen.rundir import short


def config_source(arg: str) -> str:
    """A CONFIG argument as a path: an existing file, a path (has ``/`` or a ``.yaml`` suffix), or the name
    of an example config (``ring_gan`` -> the packaged ``ring_gan.yaml``, :func:`unigen.experiments.config_path`)."""
    if Path(arg).exists() or "/" in arg or arg.endswith((".yaml", ".yml")):
        return arg
    from unigen.experiments import config_path

    return str(config_path(arg))


def _train(args) -> None:
    from unigen.rundir import check_names
    from unigen.run import train

    for flag, value in (("--out", args.out), ("--resume", args.resume)):
        if value:
            check_names(value, flag)

    if args.resume is None and args.config is None:
        raise UserError("unigen train needs a CONFIG file, or --resume RUN_DIR to continue a run")
    if args.resume is not None and args.overwrite:
        raise UserError("--resume continues a run and --overwrite replaces one; drop one of them")
    if args.resume is not None and args.config is not None and "=" in args.config:
        args.overrides.insert(0, args.config)  # `train --resume DIR key=value`: no config file given
        args.config = None
    config = None if args.config is None else config_source(args.config)
    run_dir = train(config, args.overrides, out=args.out, resume=args.resume, overwrite=args.overwrite)
    print(f"run written to {run_dir}")
    if (run_dir / "eval.json").is_file():
        from unigen.evaluate import headline

        print(headline(json.loads((run_dir / "eval.json").read_text()), run_dir / "eval.json"))


def _sweep(args) -> None:
    from unigen.rundir import check_names
    from unigen.sweep import sweep

    check_names(args.out, "--out")
    md = sweep(config_source(args.config), args.overrides, args.out)
    print(md.read_text().strip())
    print(f"\nsummary written to {md} and {md.with_suffix('.csv')}")


def _config(args) -> None:
    from omegaconf import OmegaConf

    from unigen.config import resolve
    from unigen.loggers import check_logging

    resolved = resolve(config_source(args.config), args.overrides)  # declared choices are checked there
    check_logging(resolved.config.train)
    info = getattr(resolved.data, "info", None)  # known without loading the data (not for npz): the model must fit
    if info is not None:
        resolved.model.networks(info)
    print(OmegaConf.to_yaml(resolved.config), end="")


#: the most samples one `unigen sample` draws (a larger -n is a typo, and would exhaust memory)
MAX_SAMPLES = 10 ** 6
#: the most images a .png of samples shows (a 32 × 32 grid); more go to .npz, .npy or .pt
MAX_PNG_IMAGES = 1024
#: the most rows or columns of a --grid
MAX_GRID = 100
GRIDS = ("interpolate", "classes", "reconstruct")


def _output(path: Path, formats: tuple[str, ...], force: bool) -> Path:
    """Refuse, in one line, an output path that is a folder, of an unknown format, in a missing folder, or
    an existing file (without --force), a name too long for the file system, or a file of a run directory's
    own (:func:`unigen.rundir.own_file`: its checkpoint, config, logs...), even with --force."""
    from unigen.rundir import check_names, own_file

    check_names(path, "-o")
    if path.is_dir():
        raise UserError(f"-o {path} is a directory; name a file in it, e.g. -o {path / ('samples' + formats[0])}")
    if path.suffix.lower() not in formats:
        raise UserError(f"-o {path}: unknown format {path.suffix or '(none)'!r}; use {', '.join(formats)}")
    if not path.parent.is_dir():
        if path.parent.exists():
            raise UserError(f"-o {path}: {path.parent} is not a folder; name a file in a folder")
        raise UserError(f"-o {path}: the folder {path.parent} does not exist; create it first")
    if (path.exists() or path.is_symlink()) and not force:  # a link, even one to nowhere, is replaced only if asked
        raise UserError(f"-o {path} already exists; choose another name, or pass --force to replace it")
    own = own_file(path)
    if own is not None:
        raise UserError(f"-o {path} is {own}; samples never replace a run's own files, with or without --force: "
                        f"name another file, e.g. -o samples{path.suffix.lower()}")
    return path


def _sample(args) -> None:
    from contextlib import nullcontext

    from unigen.rundir import RunLock, check_names, disk_errors, run_of
    from unigen.loading import load_run, require_run_dir
    from unigen.grids import write_grid
    from unigen.sampling import SAMPLE_FORMATS, check_label, truncated, write_samples

    check_names(args.run_dir, "RUN")
    exported = Path(args.run_dir).suffix == ".safetensors"
    if not exported:
        require_run_dir(args.run_dir)
    if args.grid is None and args.num is not None and not 1 <= args.num <= MAX_SAMPLES:
        raise UserError(f"-n {args.num}: draw between 1 and {MAX_SAMPLES:,} samples")
    if args.grid is not None and args.num is not None and not 1 <= args.num <= MAX_GRID:
        raise UserError(f"-n {args.num}: a --grid {args.grid} has between 1 and {MAX_GRID} "
                        f"{'rows' if args.grid == 'interpolate' else 'columns'}")
    if args.grid != "interpolate":
        given = [f for f, v in (("--steps", args.steps), ("--interpolation", args.interpolation)) if v is not None]
        if given:
            raise UserError(f"{' and '.join(given)} shape(s) an interpolation grid; add --grid interpolate, or "
                            f"drop {' and '.join(given)}")
    args.steps = 10 if args.steps is None else args.steps
    args.interpolation = args.interpolation or "linear"
    if not 2 <= args.steps <= MAX_GRID:
        raise UserError(f"--steps {args.steps}: an interpolation has between 2 and {MAX_GRID} steps")
    if args.grid == "classes" and args.label is not None:
        raise UserError(f"--grid classes shows every class; drop --class {args.label}")
    _check_latent_options(args)
    if not 0 <= args.seed < 2 ** 32:
        raise UserError(f"--seed {args.seed} is out of range: it must be >= 0 and < 4,294,967,296")
    if args.output is None and exported:
        raise UserError(f"name the output file of samples from {args.run_dir} with -o, e.g. -o samples.png")
    path = Path(args.output) if args.output else Path(args.run_dir) / "samples.png"
    # without -o, the run's own samples.png (which training wrote) is redrawn
    if args.output is None and path.is_dir():
        raise UserError(f"{path} is a folder, where the run keeps its samples; move it away, or name another file "
                        f"with -o")
    path = _output(path, (".png",) if args.grid else SAMPLE_FORMATS, args.force or args.output is None)
    into = run_of(path)  # a file written into a run directory (its samples.png...) waits for no training there
    with RunLock(into, shared=True, fix="wait for its training to finish, or write the samples outside the run "
                 "with -o") if into is not None else nullcontext():
        built = load_run(args.run_dir, args.device)
        check_label(built, args.label)
        if args.grid is None:
            _check_sample_size(built.info.shape, args.num, path)
        with disk_errors(path.parent), truncated(built, args.truncation) as truncation:
            if args.grid is None:
                n = write_samples(built, path, args.num, label=args.label, seed=args.seed)
                what = f"{n} samples" + (f" of class {args.label}" if args.label is not None else "")
            else:
                what = write_grid(built, args.grid, path, args.num, args.label, args.steps, args.interpolation,
                                  args.seed, from_data=args.from_data)
        if truncation is not None:
            what += f" (latents {', '.join(truncation.truncated)} truncated to |u| <= {args.truncation:g} standard deviations)"
    average = f" (drawn with the weight average of train.ema={built.config.train.ema})" if built.weights == "ema" else ""
    print(f"{what} written to {path}{average}")


def _check_latent_options(args) -> None:
    """Refuse, in one line, ``--from-data`` off an interpolation grid and ``--truncation`` where nothing is drawn."""
    from unigen.truncation import check_truncation

    if args.from_data and args.grid != "interpolate":
        raise UserError("--from-data interpolates between encoded test inputs; add --grid interpolate, or drop "
                        "--from-data")
    if args.from_data and args.label is not None:
        raise UserError(f"--from-data keeps each test input's own class; drop --class {args.label}")
    if args.truncation is not None and (args.from_data or args.grid == "reconstruct"):
        raise UserError("--truncation shapes draws from the prior, and encoded test inputs are not drawn; drop "
                        "--truncation")
    check_truncation(args.truncation)


def _check_sample_size(shape: tuple[int, ...], num: int | None, path: Path) -> None:
    """Refuse, before drawing, a .png of more images than a grid can show, and arrays larger than the free disk."""
    import math
    import shutil

    if num is None:
        return
    if path.suffix.lower() == ".png" and len(shape) > 1 and num > MAX_PNG_IMAGES:
        raise UserError(f"-n {num}: a .png shows at most {MAX_PNG_IMAGES:,} images; write more to .npz, .npy or .pt")
    nbytes, free = 4 * num * math.prod(shape), shutil.disk_usage(path.parent).free  # float32 samples
    if path.suffix.lower() != ".png" and nbytes > free:
        def size(b: float) -> str:
            return f"{b / 1e9:.1f} GB" if b >= 1e9 else f"{b / 1e6:.1f} MB"

        raise UserError(f"-n {num}: the samples take about {size(nbytes)} but {path.parent} has {size(free)} free; "
                        f"draw fewer, or write elsewhere")


def _export(args) -> None:
    from unigen.config import resolve
    from unigen.export import export_run
    from unigen.loading import require_run_dir, saved_config

    require_run_dir(args.run_dir)
    if args.output is None:
        raise UserError(f"name the export file with -o, e.g. unigen export {args.run_dir} -o model.safetensors")
    path = export_run(args.run_dir, args.output, force=args.force)
    ema = resolve(saved_config(Path(args.run_dir))).config.train.ema  # unigen.ema: the average is what is exported
    print(f"weights and config of {args.run_dir} written to {path}"
          + (f" (the weight average of train.ema={ema})" if ema > 0 else ""))


def _eval(args) -> None:
    from unigen.evaluate import evaluate

    from unigen.evaluate import eval_file

    print(json.dumps(evaluate(args.run_dir, args.device, args.overrides), indent=2))
    print(f"unigen: written to {Path(args.run_dir) / eval_file(args.overrides)}", file=sys.stderr)


def _reproduce(args) -> None:
    from unigen.experiments.common import DEFAULT_RESULTS, run
    from unigen.assemble import pick_device

    results = Path(args.results) if args.results else DEFAULT_RESULTS  # relative to the working directory
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: use at least 1 seed")
    pick_device(args.device, "--device")  # before any training: a missing GPU is one line, not a traceback
    md = run(args.name, quick=args.quick, seeds=args.seeds, device=args.device, results=results,
             cache=Path(args.cache) if args.cache else None, data=args.data)
    print(md.read_text().split("## Protocol")[0].strip())
    print(f"\nresults written to {md} and {md.with_suffix('.json')}")


def _list(args) -> None:
    if args.name is not None:
        from unigen.describe import describe

        print(describe(args.name))
        return
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
    from unigen.experiments import DESCRIPTIONS

    for name in REPRODUCTIONS:
        print(f"  {name:<20} {DESCRIPTIONS.get(name, '')}".rstrip())
    print("shared settings: train, optim (train.optim), eval")
    print("`unigen list NAME` shows the settings of any name above (types, defaults, ranges and choices), and for a "
          "reproduction what it runs")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="unigen", description="Train Pyro generative programs with any "
                                "strategy of the unified GAN/VAE view.")
    p.add_argument("--version", action="version", version=f"unigen {unigen.__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks for input errors")
    # --debug after the command too (unigen train ... --debug); SUPPRESS: absent there, the top level's stands
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks for input errors")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", parents=[debug], help="train a run from a YAML config")
    t.add_argument("config", nargs="?", help="YAML file, or the name of an example config (ring_gan, mnist_vae, ...)")
    t.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=500")
    t.add_argument("--out", help="run directory (default: the config's `out`)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint; key=value "
                   "overrides after it change the run (rate, schedule, steps, ...) and are recorded")
    t.add_argument("--overwrite", action="store_true", help="replace the run files in an existing --out "
                   "(without it, an existing run is refused)")
    t.set_defaults(fn=_train)
    sw = sub.add_parser("sweep", parents=[debug], help="train a grid of runs (key=a,b sweeps a setting) and "
                        "summarise their evaluations")
    sw.add_argument("config", help="YAML file, or the name of an example config")
    sw.add_argument("overrides", nargs="*", help="key=value for every run, key=a,b,c to sweep it, e.g. train.seed=0,1,2")
    sw.add_argument("--out", required=True, help="the sweep's folder: one run directory per point, summary.md/.csv")
    sw.set_defaults(fn=_sweep)
    cf = sub.add_parser("config", parents=[debug], help="print the fully resolved config (YAML) without training")
    cf.add_argument("config", help="YAML file, or the name of an example config")
    cf.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=500")
    cf.set_defaults(fn=_config)
    s = sub.add_parser("sample", parents=[debug], help="draw samples from a trained run or an export")
    s.add_argument("run_dir", metavar="RUN", help="a run directory, or a .safetensors file from `unigen export`")
    s.add_argument("-n", "--num", type=int, default=None, help="number of samples (2500 for 2-D data, 64 images); "
                   "with --grid: rows (interpolate, 8) or columns (classes, 10)")
    s.add_argument("-o", "--output", help="output file: .png (grid or scatter), .npz, .npy or .pt "
                   "(default RUN_DIR/samples.png)")
    s.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0): the same seed gives the same samples")
    s.add_argument("--class", dest="label", type=int, default=None, metavar="K",
                   help="draw every sample of class K (conditional models)")
    s.add_argument("--grid", choices=GRIDS, default=None, help="image models: a latent interpolation grid, a "
                   "class × sample grid (conditional models), or test inputs above their reconstructions (models "
                   "with a guide); writes a .png")
    s.add_argument("--steps", type=int, default=None, help="--grid interpolate: columns from one latent to the "
                   "other (default 10)")
    s.add_argument("--interpolation", choices=("linear", "spherical"), default=None,
                   help="--grid interpolate: the path between the latents (default linear)")
    s.add_argument("--reconstruct", dest="grid", action="store_const", const="reconstruct",
                   help="the same as --grid reconstruct: test inputs above their reconstructions (pythae's habit)")
    s.add_argument("--from-data", action="store_true", help="--grid interpolate: walk between test inputs "
                   "encoded by the guide (each row: x_a, the path, x_b) instead of between prior draws")
    s.add_argument("--truncation", type=float, default=None, metavar="T", help="draw Gaussian latents from the "
                   "prior truncated to |z| <= T standard deviations (the truncation trick; e.g. 1.0)")
    s.add_argument("--force", action="store_true", help="replace an existing -o file")
    s.add_argument("--device", default=None)
    s.set_defaults(fn=_sample)
    x = sub.add_parser("export", parents=[debug], help="write a run's weights (.safetensors, the config in its metadata)")
    x.add_argument("run_dir", metavar="RUN")
    x.add_argument("-o", "--output", help="the .safetensors file to write")
    x.add_argument("--force", action="store_true", help="replace an existing -o file")
    x.set_defaults(fn=_export)
    e = sub.add_parser("eval", parents=[debug], help="evaluate a trained run (writes RUN_DIR/eval.json; with "
                       "eval.KEY=VALUE overrides RUN_DIR/eval.KEY=VALUE.json)")
    e.add_argument("run_dir")
    e.add_argument("overrides", nargs="*", metavar="eval.KEY=VALUE",
                   help="evaluation settings for this evaluation only, e.g. eval.num_images=10000")
    e.add_argument("--device", default=None)
    e.set_defaults(fn=_eval)
    r = sub.add_parser("reproduce", parents=[debug], help="reproduce a published comparison (writes experiments/results/NAME.md)")
    from unigen.experiments import REPRODUCTIONS  # the names only: modules import on first use

    r.add_argument("name", help=", ".join(REPRODUCTIONS))
    r.add_argument("--quick", action="store_true", help="reduced settings that finish in minutes on CPU")
    r.add_argument("--seeds", type=int, default=None, help="number of seeds 0..N-1 (default: the reproduction's "
                   "own, 5 for hu2018-iwgan and hu2018-aavae as Hu et al.'s 5 runs, else 3)")
    r.add_argument("--device", default="cpu")
    r.add_argument("--data", metavar="DATASET", help="the data set, for reproductions that run on more than one "
                   "(hu2018-aavae, hu2018-iwgan: mnist or fashion_mnist); writes NAME-DATASET.md")
    r.add_argument("--results", help="output folder (default ./experiments/results under the working "
                   "directory); --quick writes NAME.quick.md/.json/.png there, never the full NAME.md")
    r.add_argument("--cache", metavar="DIR", help="keep each finished training's result in DIR/NAME; rerunning "
                   "with the same settings reuses them (resumes an interrupted reproduction)")
    r.set_defaults(fn=_reproduce)
    ls = sub.add_parser("list", parents=[debug], help="list strategies, models and datasets; `list NAME`: one's settings")
    ls.add_argument("name", nargs="?", help="a strategy, model, dataset, penalty, or train / optim / eval")
    ls.set_defaults(fn=_list)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    if extra:  # `key=value` overrides may follow options such as --out
        if args.command not in ("train", "config", "eval") or any("=" not in e or e.startswith("-") for e in extra):
            p.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    from unigen.signals import Interrupted

    try:
        args.fn(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"unigen: error: {e.for_cli()}", file=sys.stderr)
        return 2
    except Interrupted as e:  # the checkpoint is saved: say how to go on, exit as the signal's convention
        print(f"unigen: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("unigen: interrupted (SIGINT) before any run file was written", file=sys.stderr)
        return 130
    except OSError as e:  # the last net under the one-line promise: a path the checks above did not foresee
        if args.debug:
            raise
        where = f" ({short(e.filename)})" if getattr(e, "filename", None) else ""
        print(f"unigen: error: {e.strerror or first_line(e)}{where}; check that path (a file, a folder, free space, "
              f"permissions) and run again", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
