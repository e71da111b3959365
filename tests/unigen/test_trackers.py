"""W&B and MLflow beside TensorBoard (``train.logger=wandb``, ``mlflow``, several joined by commas): what they hold
equals metrics.jsonl's training rows, a resumed run continues their runs without sending a step twice, and a
missing package or W&B online without a login is one line before any file is written.

W&B runs offline (``WANDB_MODE=offline``): its history is read back from the run's ``.wandb`` file (wandb has no
Python reader of it any more; the file is LevelDB's log format holding wandb's own protobuf ``Record`` messages).
MLflow writes its file store in ``RUN_DIR/mlruns``, read back with ``MlflowClient``.
"""
import builtins
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from probes import RING, ROOT, TINY, cli, one_line
from toys import stopped_at

pytest.importorskip("wandb")
pytest.importorskip("mlflow")


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory):
    """W&B offline and MLflow local for the whole module (W&B reads its environment once per process)."""
    home = tmp_path_factory.mktemp("trackers_home")
    with pytest.MonkeyPatch.context() as m:
        for key in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_ID", "WANDB_RESUME",
                    "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
            m.delenv(key, raising=False)
        env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_ERROR_REPORTING": "false",
               "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
        env.update({key: str(home / key.lower()) for key in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR",
                                                             "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR")})
        for key, value in env.items():
            m.setenv(key, value)
        yield
        if "wandb" in sys.modules:
            sys.modules["wandb"].teardown()  # the next W&B user in this process reads its environment again


def _train(capsys, out, *overrides, resume=False):
    argv = ["train", "--resume", out, *overrides] if resume else ["train", RING, *TINY, *overrides, "--out", out]
    code, err, _ = cli(argv, capsys)
    assert code == 0, err
    return Path(out)


def _rows(run):
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "train"]


def _scalars(row):
    return {k: v for k, v in row.items() if k not in ("step", "kind", "time") and isinstance(v, (int, float))}


# ------------------------------------------------------------------------------------------------ W&B's file
def _records(path: Path):
    """The protobuf records of a ``.wandb`` file: a 7-byte header (``:W&B``, magic, version), then LevelDB log
    blocks of 32 KiB, each record a 7-byte header (checksum, length, type: full, first, middle, last) and data."""
    from wandb.proto import wandb_internal_pb2

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B", data[:7]
    pos, chunk = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = chunk + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def _wandb_runs(run):
    """Each offline session of the run, oldest first: ``(run id, config, {step: history row})``."""
    out = []
    for path in sorted((run / "wandb").glob("offline-run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime):
        run_id, config, history = None, {}, {}
        for r in _records(path):
            kind = r.WhichOneof("record_type")
            if kind == "run":
                run_id = r.run.run_id
                config = {i.key: json.loads(i.value_json) for i in r.run.config.update}
            elif kind == "history":
                row = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
                assert r.history.step.num not in history
                history[r.history.step.num] = {k: v for k, v in row.items() if not k.startswith("_")}
        out.append((run_id, config, history))
    return out


# ------------------------------------------------------------------------------------------------ MLflow's store
def _mlflow(run):
    from mlflow.tracking import MlflowClient

    state = json.loads((run / "trackers.json").read_text())["mlflow"]
    assert state["tracking_uri"] is None  # the run's own store
    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    return client, client.get_run(state["run_id"])


def _history(client, run_id, keys):
    """``{step: {key: value}}``, asserting that no step holds a key twice."""
    out = {}
    for key in keys:
        for m in client.get_metric_history(run_id, key):
            assert key not in out.setdefault(m.step, {}), (key, m.step)
            out[m.step][key] = m.value
    return out


def test_wandb_offline_holds_the_training_rows_and_the_config(tmp_path, capsys):
    run = _train(capsys, tmp_path / "r", "train.steps=15", "train.logger=wandb")
    [(run_id, config, history)] = _wandb_runs(run)
    assert run_id == json.loads((run / "trackers.json").read_text())["wandb"]["id"]
    assert config["train"]["steps"] == 15 and config["strategy"]["name"] == "ns_gan"
    rows = _rows(run)
    assert sorted(history) == [r["step"] for r in rows] == [5, 10, 15]
    for r in rows:
        assert history[r["step"]] == _scalars(r)
    assert not (run / "mlruns").exists() and not (run / "tensorboard").exists()


def test_mlflow_local_store_holds_the_training_rows_and_the_config(tmp_path, capsys):
    run = _train(capsys, tmp_path / "r", "train.steps=15", "train.logger=mlflow")
    client, mlrun = _mlflow(run)
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == "r"
    assert mlrun.data.params["train.steps"] == "15" and mlrun.data.params["strategy.name"] == "ns_gan"
    rows = _rows(run)
    history = _history(client, mlrun.info.run_id, _scalars(rows[0]))
    assert sorted(history) == [5, 10, 15]
    for r in rows:
        assert history[r["step"]] == _scalars(r)


def test_a_resumed_run_continues_every_trackers_run_and_sends_no_step_twice(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _train(capsys, tmp_path / "r", "train.steps=10", "train.logger=tensorboard,wandb,mlflow")
    at_10 = tmp_path / "checkpoint_10.pt"
    shutil.copy(run / "checkpoint.pt", at_10)
    _train(capsys, run, "train.steps=20", resume=True)
    # as if that process had been killed at step 20 after its last checkpoint (step 10): the trackers hold 15 and
    # 20 already; the resumed run retraces them, and sends them to TensorBoard only
    shutil.copy(at_10, run / "checkpoint.pt")
    _train(capsys, run, "train.steps=20", resume=True)
    rows = _rows(run)
    assert [r["step"] for r in rows] == [5, 10, 15, 20]

    sessions = _wandb_runs(run)
    assert len(sessions) == 3 and len({s[0] for s in sessions}) == 1
    assert [sorted(s[2]) for s in sessions] == [[5, 10], [15, 20], []]
    history = {step: row for s in sessions for step, row in s[2].items()}
    assert all(history[r["step"]] == _scalars(r) for r in rows)  # a resumed run retraces its steps exactly

    client, mlrun = _mlflow(run)
    assert mlrun.info.status == "FINISHED"
    assert len(client.search_runs([mlrun.info.experiment_id])) == 1
    history = _history(client, mlrun.info.run_id, _scalars(rows[0]))
    assert sorted(history) == [5, 10, 15, 20] and all(history[r["step"]] == _scalars(r) for r in rows)

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("generator")] == [5, 10, 15, 20]
    assert json.loads((run / "trackers.json").read_text())["wandb"]["step"] == 20


def test_a_stopped_run_is_killed_in_mlflow_and_resumes_running(tmp_path, capsys, monkeypatch):
    with stopped_at(monkeypatch, 7, "SIGTERM"):
        code, err, _ = cli(["train", RING, *TINY, "train.steps=15", "train.logger=mlflow", "--out", tmp_path / "r"],
                           capsys)
    assert code == 128 + 15, err
    run = tmp_path / "r"
    client, mlrun = _mlflow(run)
    assert mlrun.info.status == "KILLED"
    _train(capsys, run, resume=True)
    client, again = _mlflow(run)
    assert again.info.run_id == mlrun.info.run_id and again.info.status == "FINISHED"
    assert sorted(_history(client, again.info.run_id, ["generator"])) == [5, 10, 15]


def test_a_tracker_that_fails_while_training_is_dropped_with_one_warning(tmp_path, capsys, monkeypatch):
    from unigen import trackers
    from unigen.config import resolve
    from unigen.loggers import Loggers

    class Down:  # a remote store that goes away after the first row
        continued, state, closed, rows = False, {"run_id": "x"}, [], []

        def __init__(self, *args):
            pass

        def write(self, step, values):
            if self.rows:
                raise ConnectionError("store unreachable\nretry later")
            self.rows.append(step)

        def close(self, status):
            self.closed.append(status)

    monkeypatch.setitem(trackers.TRACKERS, "mlflow", Down)
    logs = Loggers(tmp_path, resolve(None, ["train.logger=mlflow"]).config)
    for step in (5, 10, 15):
        logs.write(step, {"loss": 1.0, "flag": True, "bad": float("nan")})
    logs.close()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "train.logger=mlflow failed at step 10 (store unreachable)" in err
    assert Down.rows == [5] and Down.closed == ["FAILED"]
    assert json.loads((tmp_path / "trackers.json").read_text()) == {"mlflow": {"run_id": "x", "step": 5}}


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
@pytest.mark.parametrize("how", ["sys.modules", "__import__"])
def test_a_missing_tracker_package_is_one_line_before_any_file(tmp_path, capsys, monkeypatch, name, how):
    if how == "sys.modules":
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if it were not installed
    else:
        real = builtins.__import__

        def without(module, *args, **kwargs):
            if module == name or module.startswith(name + "."):
                raise ModuleNotFoundError(f"No module named {module!r}")
            return real(module, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", without)
    code, err, _ = cli(["train", RING, *TINY, "train.steps=5", f"train.logger=tensorboard,{name}",
                        "--out", tmp_path / "r"], capsys)
    one_line(code, err, f"pip install unigen[{name}]")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("value, fragment", [
    ("tensorboard,wandbb", "train.logger='wandbb' is not one of none, tensorboard, wandb, mlflow (did you mean "
                           "'wandb'?)"),
    ("mlfow", "train.logger='mlfow' is not one of"),
    ("none,wandb", "none means no logger"),
    ("tensorboard,,wandb", "holds an empty name"),
])
def test_a_bad_logger_list_is_one_line(capsys, value, fragment):
    one_line(*cli(["config", RING, f"train.logger={value}"], capsys)[:2], fragment)


def test_several_loggers_in_yaml_on_the_command_line_and_in_a_sweep(tmp_path, capsys):
    from unigen.config import resolve
    from unigen.loggers import logger_names
    from unigen.sweep import grid

    config = tmp_path / "c.yaml"
    config.write_text("train:\n  logger: tensorboard, mlflow\n")
    assert logger_names(resolve(str(config)).config.train.logger) == ["tensorboard", "mlflow"]
    assert logger_names(resolve(None, ["train.logger=wandb,tensorboard"]).config.train.logger) == ["wandb",
                                                                                                   "tensorboard"]
    assert logger_names("none") == [] and logger_names("wandb,wandb") == ["wandb"]
    fixed, swept = grid(['train.logger="tensorboard,wandb"', "train.seed=0,1"])  # quoted: one value, not swept
    assert swept == {"train.seed": ["0", "1"]}
    assert resolve(None, fixed).config.train.logger == "tensorboard,wandb"
    code, _, out = cli(["list", "train"], capsys)
    assert code == 0 and "choices: none, tensorboard, wandb, mlflow" in out and "tensorboard,wandb" in out


def test_wandb_online_without_credentials_is_one_line(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "online", "WANDB_API_KEY": "", "HOME": str(tmp_path),
           "NETRC": str(tmp_path / "netrc"), "WANDB_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, "-m", "unigen", "config", RING, "train.logger=wandb"], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    one_line(done.returncode, done.stderr.strip(), "WANDB_MODE=offline")
    assert "wandb login" in done.stderr


def test_unigen_imports_no_tracker_unless_asked():
    code = ("import sys, unigen.cli, unigen.run, unigen.loggers, unigen.trackers\n"
            "from unigen.loggers import check_logging\nfrom unigen.config import resolve\n"
            "check_logging(resolve(None, ['train.logger=tensorboard']).config.train)\n"
            "print(sorted(m for m in ('wandb', 'mlflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["[]"], done.stderr[-2000:]
