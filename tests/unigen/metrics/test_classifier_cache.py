"""The feature classifiers' cache: where it lives (XDG), and one training at a time (a file lock)."""
import threading

import torch

from unigen.data import MNIST
from unigen.metrics import classifier as clf


def test_the_cache_honours_unigen_cache_then_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("UNIGEN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert clf.default_cache_dir() == tmp_path / "xdg" / "unigen"
    monkeypatch.setenv("UNIGEN_CACHE", str(tmp_path / "mine"))
    assert clf.default_cache_dir() == tmp_path / "mine"


def test_two_runs_asking_at_once_train_the_classifier_once(tmp_path, monkeypatch, capsys):
    calls = []
    barrier = threading.Barrier(2)

    def train(x, c, **kwargs):  # a stand-in for the minute-long training: counts, and lets the other thread queue
        calls.append(1)
        torch.manual_seed(0)
        return clf.MNISTClassifier().eval()

    monkeypatch.setattr(clf, "train_classifier", train)
    monkeypatch.setattr(clf, "conditional_accuracy", lambda *a, **k: 0.5)
    results = []

    def ask():
        barrier.wait()
        results.append(clf.feature_classifier(MNIST(), cache_dir=tmp_path)[1])

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == [0.5, 0.5]  # the second read what the first cached
    assert "training the MNIST-classifier for image metrics, once" in capsys.readouterr().err
