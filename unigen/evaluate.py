"""Evaluating a trained run: the metrics that apply (:mod:`unigen.metrics.evaluation`) on streams seeded with
``train.seed``, written into the run (``eval.json``, or ``eval.KEY=VALUE.json`` at other settings)."""
from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from unigen.assemble import Built, seeded
from unigen.config import eval_overrides, parse_overrides
from unigen.loading import load_run_dir, require_run_dir
from unigen.metrics.evaluation import Evaluation
from unigen.metrics.evaluation import evaluate as evaluate_metrics
from unigen.metrics.kid import kid_label
from unigen.runlog import from_strict_json, strict_json, write_json
from unigen.rundir import RunLock, disk_errors
from unigen.sampling import draw_labelled, uses_labels


def evaluate_built(built: Built) -> dict:
    """The metrics that apply to this data and these programs (:mod:`unigen.metrics.evaluation`), or
    ``{"note": ...}`` saying why none does. Drawn on streams seeded with ``train.seed`` (:func:`seeded`), so
    the evaluation at the end of training and a later ``unigen eval`` of the same weights give the same
    numbers, and a training's own streams are left as they were."""
    ev = Evaluation(programs=built.programs, data=built.resolved.data, train=built.train_data, device=built.device,
                    settings=built.resolved.config.eval, draw=lambda n: draw_labelled(built, n),
                    conditional=uses_labels(built))
    with seeded(built):
        results = plain_keys(evaluate_metrics(ev))
    return results | ({"weights": "ema"} if built.weights == "ema" else {})  # say which weights were scored


def metric_id(label: str) -> str:
    """A metric's display label as a plain identifier: ``"FID (MNIST-classifier features)"`` ->
    ``"fid_mnist_classifier"``, ``"IS (MNIST-classifier) std"`` -> ``"is_mnist_classifier_std"``."""
    words = re.findall(r"[a-z0-9]+", label.lower())
    return "_".join(w for w in words if w != "features")


def plain_keys(results: dict) -> dict:
    """``results`` keyed by plain identifiers (:func:`metric_id`), with ``"labels"`` mapping each renamed key
    back to its display label (e.g. for tables and plots)."""
    out, labels = {}, {}
    for key, value in results.items():
        ident = metric_id(key) if key not in ("note", "computed_on") else key
        out[ident] = value
        if ident != key:
            labels[ident] = kid_label(key)  # KID's label says its scale
    return {**out, "labels": labels} if labels else out


def eval_file(overrides: list[str] = ()) -> str:
    """Where :func:`evaluate` writes in the run directory: ``eval.json``, or with overrides a file named after
    the settings they set (``eval.num_images=10000.json``; sorted, the last value of a repeated key, as parsed:
    ``=120`` and ``= 120`` name the same file), so the end-of-training evaluation is never replaced."""
    if not overrides:
        return "eval.json"
    settings = OmegaConf.to_container(parse_overrides(list(overrides))).get("eval", {})
    return "eval." + ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                              for k, v in sorted(settings.items())) + ".json"


def evaluate(run_dir: str | Path, device: str | None = None, overrides: list[str] = ()) -> dict:
    """Evaluate a trained run and write the results into it (:func:`eval_file`); ``overrides`` (``eval.KEY=VALUE``)
    change the evaluation's own settings, e.g. the sample count of FID."""
    run_dir = require_run_dir(run_dir)
    # eval writes into the run: not while it trains (and no training starts meanwhile); evaluations side by side may
    with RunLock(run_dir, shared=True, fix="wait for its training to finish, then evaluate it"):
        built = load_run_dir(run_dir, device)
        if overrides:
            built.resolved.config.eval = eval_overrides(built.resolved.config.eval, list(overrides))
        results = evaluate_built(built)
        with disk_errors(run_dir):
            write_json(run_dir / eval_file(overrides), results)
    return strict_json(results)


#: keys of an evaluation that count or describe rather than score (left out of headlines and sweep summaries)
NOT_SCORES = ("labels", "nonfinite", "num_modes", "fid_samples", "fid_reference_size", "weights", "computed_on",
              "kid_subsets", "note")


def headline(results: dict, path: Path) -> str:
    """Up to six of an evaluation's numbers with their labels, and where the rest is: the end of a run's output."""
    if "note" in results and len(results) == 1:
        return f"evaluation: {results['note']}"
    labels = results.get("labels", {})
    values = {k: v for k, v in from_strict_json(results).items()
              if k not in NOT_SCORES and isinstance(v, (int, float)) and not k.endswith("_std")}
    shown = ", ".join(f"{labels.get(k, k)} {v:.4g}" if isinstance(v, float) else f"{labels.get(k, k)} {v}"
                      for k, v in list(values.items())[:6])
    return f"evaluation: {shown} (all of it in {path})"
