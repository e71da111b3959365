"""``unigen sweep CONFIG key=a,b train.seed=0,1,2 --out DIR``: a grid of runs, one run directory per point, then a
summary of their evaluations (mean ± std over seeds).

An override with a comma outside brackets is swept (``strategy.name=ns_gan,wgan``); the others apply to every
point (``train.optim.betas=[0.5,0.9]`` is one value). Each point trains into ``DIR/KEY=VALUE,...`` (the swept keys
only). The sweep resumes: a point whose run finished (its ``eval.json`` is there) is kept, one with a checkpoint
continues (``--resume``), and nothing is overwritten: a folder holding a run of other settings is refused in one
line. ``DIR/summary.csv`` and ``DIR/summary.md`` then hold each point's evaluation metrics, mean and standard
deviation over ``train.seed`` (the other swept keys make the rows).
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from pathlib import Path

from omegaconf import OmegaConf

from unigen.config import resolve
from unigen.errors import UserError
from unigen.evaluate import NOT_SCORES
from unigen.rundir import usable_dir, write_text
from unigen.runlog import from_strict_json

SEED = "train.seed"


def split_value(value: str) -> list[str]:
    """``a,b`` -> ``["a", "b"]``; commas inside brackets or quotes are part of a value (``[0.5,0.9]``)."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return parts + [cur]


def grid(overrides: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The fixed overrides and the swept keys with their values, in the order given."""
    fixed, swept = [], {}
    for o in overrides:
        key, sep, value = o.partition("=")
        values = split_value(value) if sep else [value]
        if len(values) > 1:
            if any(not v.strip() for v in values):
                raise UserError(f"{o}: an empty value in the sweep; write key=a,b")
            swept[key] = values
        else:
            fixed.append(o)
    return fixed, swept


def point_name(point: dict[str, str]) -> str:
    """The run directory of a point: its swept settings, ``key=value`` joined by commas (file-system safe)."""
    return ",".join(f"{k}={re.sub(r'[^A-Za-z0-9_.+-]', '_', v)}" for k, v in point.items()) or "run"


def sweep(config: str, overrides: list[str], out: str | Path) -> Path:
    """Run the grid of ``overrides`` over ``config`` into ``out`` (see the module docstring); returns the summary's
    markdown path."""
    from unigen.run import train

    fixed, swept = grid(overrides)
    if not swept:
        raise UserError("unigen sweep needs at least one swept setting, e.g. strategy.name=ns_gan,wgan or "
                        "train.seed=0,1,2")
    out = usable_dir(Path(out), "--out")
    points = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    for point in points:  # every point resolves before anything trains: a bad value is one line, not a lost hour
        resolve(config, fixed + [f"{k}={v}" for k, v in point.items()])
    results = []
    for point in points:
        run_dir = out / point_name(point)
        point_overrides = fixed + [f"{k}={v}" for k, v in point.items()]
        if (run_dir / "config.yaml").is_file():
            _same_settings(run_dir, config, point_overrides)
        if (run_dir / "eval.json").is_file():
            pass  # finished: kept
        elif (run_dir / "checkpoint.pt").is_file():
            train(overrides=[o for o in point_overrides if o.startswith(("train.steps=",))], resume=run_dir)
        else:
            train(config, point_overrides, out=str(run_dir))
        results.append((point, from_strict_json(json.loads((run_dir / "eval.json").read_text()))))
    return write_summary(out, results, [k for k in swept if k != SEED])


def _same_settings(run_dir: Path, config: str, overrides: list[str]) -> None:
    """Refuse a run directory that holds a run of other settings than the point's."""
    want = OmegaConf.to_container(resolve(config, overrides + [f"out={run_dir}"]).config)
    have = OmegaConf.to_container(resolve(run_dir / "config.yaml").config)
    keep = ("data", "model", "strategy")
    if any(want[k] != have[k] for k in keep) or want["train"]["seed"] != have["train"]["seed"]:
        raise UserError(f"{run_dir} holds a run of other settings than this point of the sweep; choose another "
                        f"--out, or move it away")


def write_summary(out: Path, results: list[tuple[dict, dict]], rows: list[str]) -> Path:
    """``summary.csv`` and ``summary.md``: per row of the non-seed swept settings, each numeric metric's mean and
    standard deviation over the runs (seeds) of that row."""
    groups: dict[tuple, list[dict]] = {}
    for point, values in results:
        groups.setdefault(tuple(point.get(k, "") for k in rows), []).append(values)
    metrics = sorted({k for _, v in results for k, x in v.items() if isinstance(x, (int, float))
                      and not isinstance(x, bool) and k not in NOT_SCORES})
    table = []
    for key, runs in groups.items():
        row = dict(zip(rows, key)) | {"runs": len(runs)}
        for m in metrics:
            vals = [float(r[m]) for r in runs if isinstance(r.get(m), (int, float))]
            mean = sum(vals) / len(vals) if vals else math.nan
            std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) \
                if len(vals) > 1 and math.isfinite(mean) else 0.0
            row[f"{m} mean"], row[f"{m} std"] = mean, std
        table.append(row)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    write_text(out / "summary.csv", buf.getvalue())
    head = [*rows, "runs", *metrics]
    lines = [f"# Sweep summary: {out}", "", "Each metric is the mean ± std over the runs of a row (its seeds).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in table:
        cells = [str(row[k]) for k in rows] + [str(row["runs"])]
        cells += [f"{row[f'{m} mean']:.4g} ± {row[f'{m} std']:.2g}" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    md = out / "summary.md"
    write_text(md, "\n".join(lines) + "\n")
    return md
