"""Experiment trackers beside TensorBoard: Weights & Biases (``train.logger=wandb``) and MLflow (``mlflow``).

:class:`unigen.loggers.Loggers` opens the ones ``train.logger`` names and sends each the scalars the TensorBoard
logger writes, at the same steps, plus the run's resolved config once (W&B's run config; MLflow's params, as dotted
keys). Only the main process (rank 0) logs, and ``wandb`` / ``mlflow`` are imported only when named.

* W&B (``pip install unigen[wandb]``): ``wandb.init(dir=RUN_DIR, project=$WANDB_PROJECT or unigen, name=the run
  directory's name, config=..., mode=...)`` in the mode W&B itself resolves (``WANDB_MODE``, ``wandb offline``):
  ``offline`` keeps the run in ``RUN_DIR/wandb/offline-run-*`` (``wandb sync`` uploads it), ``disabled`` writes
  nothing, and neither asks for a login; ``online`` without credentials is refused in one line (:func:`check`).
* MLflow (``pip install unigen[mlflow]``): the store ``MLFLOW_TRACKING_URI`` names, else a file store in
  ``RUN_DIR/mlruns`` (mlflow-skinny carries no database driver for ``sqlite:``; MLflow 3 opens its file store only
  with ``MLFLOW_ALLOW_FILE_STORE=true``, which unigen then sets for the process, unless it is set); experiment
  ``$MLFLOW_EXPERIMENT_NAME`` or ``unigen``, run name the run directory's name; the run ends FINISHED, KILLED (a
  signal stopped the training) or FAILED.

``RUN_DIR/trackers.json`` (:data:`STATE`) keeps each tracker's run (W&B's run id; MLflow's run id and store) and the
last step sent to it. A resumed run continues the same runs (W&B: the id with ``resume="allow"``; MLflow: the run
set back to RUNNING); a run that cannot be found there, or an MLflow store changed by ``MLFLOW_TRACKING_URI``, gets
a new run. A resume's changed settings update W&B's config; MLflow's params stay those the run started with (MLflow
never changes a param): ``config.yaml`` and the ``resume`` row of ``metrics.jsonl`` hold the changes. A tracker that
fails while training (a remote store down) is dropped with one warning; the training goes on.

Rows that a killed run sent after its last checkpoint: TensorBoard drops them (``purge_step``) and gets them again;
W&B's history only moves forward (it ignores a step below the run's current one, with a warning) and MLflow appends
every point (it would hold such a step twice), so neither can take them back: a resumed run sends these two only the
steps after the last one they hold, and they keep the killed run's values there, which are the resumed run's own
unless the resume changed a setting (a resumed run retraces the steps it lost). ``metrics.jsonl`` stays the source
of truth.
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from pathlib import Path

from unigen.errors import UserError, first_line

#: the trackers' runs and the last step sent to each, in a run directory
STATE = "trackers.json"
#: MLflow's store inside a run directory when ``MLFLOW_TRACKING_URI`` is not set
MLRUNS = "mlruns"
#: W&B's project and MLflow's experiment when ``WANDB_PROJECT`` / ``MLFLOW_EXPERIMENT_NAME`` are not set
PROJECT = "unigen"
#: the package each tracker imports, and the one pip installs
PACKAGES = {"wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow-skinny")}


def scalars(values: dict) -> dict:
    """The values a logger writes: finite numbers (not booleans)."""
    return {k: v for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def check(name: str) -> None:
    """Refuse, in one line, a tracker whose package is missing, or W&B online without credentials."""
    module, pip = PACKAGES[name]
    try:
        __import__(module)
    except ImportError:
        raise UserError(f"train.logger={name} needs the {module} package; install it with "
                        f"`pip install unigen[{name}]` (or pip install {pip})") from None
    if name == "wandb" and wandb_mode() in ("online", "shared") and not wandb_logged_in():
        raise UserError("train.logger=wandb: W&B is online and finds no credentials; run `wandb login` (or set "
                        "WANDB_API_KEY), or set WANDB_MODE=offline to keep the run in RUN_DIR/wandb and upload it "
                        "later with `wandb sync`")


def wandb_mode() -> str:
    """The mode ``wandb.init`` would take: W&B's own settings (``WANDB_MODE``, a ``wandb offline`` settings file)."""
    try:
        from wandb.sdk import wandb_setup

        mode = str(wandb_setup.singleton().settings.mode)
    except Exception:  # a wandb without that module: the environment variable
        mode = os.environ.get("WANDB_MODE") or "online"
    return {"dryrun": "offline", "run": "online"}.get(mode, mode)


def wandb_logged_in() -> bool:
    """Whether W&B finds credentials without asking (``WANDB_API_KEY``, ``.netrc``, its settings); ``True`` when this
    wandb cannot say (``wandb.init`` then asks or refuses itself)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        from wandb.sdk import wandb_setup
        from wandb.sdk.lib.wbauth import authenticate

        host = wandb_setup.singleton().settings.base_url
        return authenticate.authenticate_session(host=host, source="unigen", prompt=False,
                                                 update_session=False) is not None
    except Exception:
        return True


class WandbTracker:
    """A W&B run (``RUN_DIR/wandb``); ``state`` is what :data:`STATE` kept of it (``{"id": ...}``, or empty)."""

    def __init__(self, run_dir: Path, config: dict, state: dict, changes: dict):
        import wandb

        self.continued = bool(state.get("id"))
        try:
            self.run = wandb.init(dir=str(run_dir), project=os.environ.get("WANDB_PROJECT") or PROJECT,
                                  name=run_dir.resolve().name, config=None if self.continued else config,
                                  mode=wandb_mode(), id=state.get("id"), resume="allow")
            if self.continued and changes:  # the resume's overrides: W&B's config stays config.yaml's
                self.run.config.update(config, allow_val_change=True)
        except Exception as e:
            raise UserError(f"train.logger=wandb: wandb.init failed ({first_line(e)}); see W&B's message above, "
                            f"or set WANDB_MODE=offline") from None
        self.state = {"id": self.run.id}

    def write(self, step: int, values: dict) -> None:
        self.run.log(values, step=step)

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status == "FINISHED" else 1)


def _key(name: str) -> str:
    """A name as MLflow takes it (letters, digits, ``_-. :/``; at most 250 characters)."""
    return re.sub(r"[^\w\-. :/]", "_", name)[:250]


class MlflowTracker:
    """An MLflow run; ``state`` is what :data:`STATE` kept of it (``{"run_id": ..., "tracking_uri": ...}``)."""

    def __init__(self, run_dir: Path, config: dict, state: dict, changes: dict):
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        from unigen.config import dotted

        given = os.environ.get("MLFLOW_TRACKING_URI") or None  # None: the run's own store
        if given is None:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = given or (run_dir / MLRUNS).resolve().as_uri()
        self.client = MlflowClient(tracking_uri=uri)
        run_id = state.get("run_id") if state.get("tracking_uri") == given else None
        try:
            self.continued = bool(run_id) and self._active(run_id)
            if self.continued:
                self.client.update_run(run_id, status="RUNNING")
            else:
                name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or PROJECT
                experiment = self.client.get_experiment_by_name(name)
                experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
                run_id = self.client.create_run(experiment_id, run_name=run_dir.resolve().name,
                                                tags={"unigen.run_dir": str(run_dir.resolve())}).info.run_id
                params = [Param(_key(k), (json.dumps(v) if isinstance(v, (list, dict)) else str(v))[:6000])
                          for k, v in dotted(config).items()]
                for i in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
                    self.client.log_batch(run_id, params=params[i:i + 100])
        except Exception as e:
            raise UserError(f"train.logger=mlflow: the MLflow store {uri} refused the run ({first_line(e)}); set "
                            f"MLFLOW_TRACKING_URI to a store that works, or unset it for RUN_DIR/{MLRUNS}") from None
        self.run_id = run_id
        self.state = {"run_id": run_id, "tracking_uri": given}

    def _active(self, run_id: str) -> bool:
        try:
            return self.client.get_run(run_id).info.lifecycle_stage == "active"
        except Exception:  # not in this store (deleted, or another store)
            return False

    def write(self, step: int, values: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(_key(k), float(v), now, step) for k, v in values.items()])

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status)


TRACKERS = {"wandb": WandbTracker, "mlflow": MlflowTracker}
