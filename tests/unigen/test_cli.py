"""The CLI end to end with tiny settings: train, sample, eval, list, and input errors."""
import json
import subprocess
import sys

import pytest

from unigen.cli import main


def test_train_sample_eval_on_the_ring(tmp_path, capsys):
    out = tmp_path / "ring"
    code = main(["train", "experiments/configs/ring_gan.yaml", "train.steps=20", "train.log_every=5",
                 "train.progress=false", "eval.num_samples=200", "--out", str(out)])
    assert code == 0
    for f in ("config.yaml", "metrics.jsonl", "checkpoint.pt", "samples.png", "losses.png", "eval.json"):
        assert (out / f).is_file(), f
    rows = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert [r["step"] for r in train_rows] == [5, 10, 15, 20]
    assert {"generator", "discriminator"} <= set(train_rows[-1])
    assert set(json.loads((out / "eval.json").read_text())) >= {"modes", "high_quality"}
    assert main(["sample", str(out), "-n", "100", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    at_end = json.loads((out / "eval.json").read_text())
    assert main(["eval", str(out)]) == 0
    assert '"modes"' in capsys.readouterr().out
    assert json.loads((out / "eval.json").read_text()) == at_end  # seeded alike: the same numbers
    # another evaluation size: its own file, the end-of-training evaluation kept
    assert main(["eval", str(out), "--device", "cpu", "eval.num_samples=2000"]) == 0  # after an option too
    bigger = json.loads((out / "eval.num_samples=2000.json").read_text())
    assert json.loads((out / "eval.json").read_text()) == at_end and bigger != at_end
    assert json.loads(capsys.readouterr().out) == bigger
    assert main(["eval", str(out), "train.steps=3"]) == 2
    assert "unigen eval takes eval.* settings only (got train)" in capsys.readouterr().err


def test_train_vae_on_mnist_reports_a_test_bound(tmp_path):
    out = tmp_path / "vae"
    assert main(["train", "experiments/configs/mnist_vae.yaml", "train.steps=5", "train.progress=false",
                 "eval.test_batches=1", "eval.iw_samples=5", "--out", str(out)]) == 0
    results = json.loads((out / "eval.json").read_text())
    # L_1 ≤ L_5 ≤ log p(x) < 0 for binary pixels: after 5 steps the 5-sample bound is many nats above the ELBO
    assert results["test_elbo"] + 1.0 < results["test_log_px_iw5"] < 0
    assert main(["eval", str(out)]) == 0  # a Monte-Carlo bound, drawn on the same seeded streams
    assert json.loads((out / "eval.json").read_text()) == results


def test_a_fashion_mnist_run_reports_image_metrics_named_after_its_classifier(tmp_path, monkeypatch, fashion_root):
    import torch

    from unigen.metrics import MNISTClassifier
    from unigen.metrics import classifier as classifier_module

    def untrained(x, c, **kwargs):  # stands in for the 60,000-image training, which the tests never run
        torch.manual_seed(0)
        return MNISTClassifier().eval()

    monkeypatch.setenv("UNIGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(classifier_module, "train_classifier", untrained)
    out = tmp_path / "vae"
    assert main(["train", "experiments/configs/mnist_vae.yaml", "data.name=fashion_mnist", "data.fraction=0.05",
                 "train.steps=3", "train.progress=false", "eval.test_batches=1", "eval.iw_samples=2",
                 "eval.num_images=300", "--out", str(out)]) == 0
    results = json.loads((out / "eval.json").read_text())
    labels = results["labels"]  # plain identifiers, and their display labels
    for ident, name in (("is_fashion_mnist_classifier", "IS (Fashion-MNIST-classifier)"),
                        ("fid_fashion_mnist_classifier", "FID (Fashion-MNIST-classifier features)"),
                        ("kid_fashion_mnist_classifier",
                         "KID (Fashion-MNIST-classifier features; MMD² ×1; papers often print ×10³)")):
        assert ident in results and labels[ident] == name
    assert results["fid_samples"] == results["fid_reference_size"] == 300 and results["kid_subset_size"] == 150
    assert not any("MNIST-classifier" in k and "Fashion" not in k for k in labels.values())
    computed = results["computed_on"]["image_metrics"]  # what the numbers were computed on
    assert computed["generated_samples"] == computed["reference_size"] == 300
    cached = torch.load(next((tmp_path / "cache").glob("fashion_mnist_classifier-*.pt")), weights_only=True)
    assert "Fashion-MNIST" in computed["feature_network"]  # (an untrained stand-in here, so its accuracy is low)
    assert computed["feature_network_test_accuracy"] == pytest.approx(cached["test_accuracy"])
    assert all(k.replace("_", "").isalnum() for k in results)


@pytest.mark.parametrize("argv, fragment", [
    (["train", "experiments/configs/ring_gan.yaml", "strategy.name=wat"], "unknown strategy 'wat'"),
    (["train", "experiments/configs/ring_gan.yaml", "train.batch_size=x"], "batch_size"),
    (["train", "no/such.yaml"], "does not exist"),
    (["train", "experiments/configs/ring_gan.yaml", "train.batch_size=1000000"], "larger than the data"),
    (["sample", "no/such/run"], "not a run directory"),
])
def test_bad_input_exits_2_with_one_line(argv, fragment, capsys, tmp_path):
    code = main(argv + (["--out", str(tmp_path / "r")] if argv[0] == "train" else []))
    err = capsys.readouterr().err.strip()
    assert code == 2 and fragment in err and len(err.splitlines()) == 1


def test_list_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "unigen", "list"], capture_output=True, text=True, check=True).stdout
    for name in ("elbo", "ns_gan", "minimax_gan", "mlp", "mlp_vae", "dcgan", "ring", "grid", "mnist"):
        assert f"  {name} " in out


def test_an_evaluation_at_other_settings_is_named_after_the_settings_it_ran_with():
    from unigen.evaluate import eval_file

    assert eval_file([]) == "eval.json"
    assert eval_file(["eval.num_samples=150", "eval.num_samples=120"]) == "eval.num_samples=120.json"  # the last wins
    assert eval_file(["eval.num_samples= 120"]) == eval_file(["eval.num_samples=120"])
    assert eval_file(["eval.num_images=500", "eval.image_metrics=false"]) == \
        "eval.image_metrics=false,num_images=500.json"
