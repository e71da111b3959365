"""Host-resident data streamed to the device: the same batches, so the same run, as device-resident data."""
import pytest
import torch
from torch.testing import assert_close

from unigen import Trainer
from unigen.cli import main
from unigen.config import OptimConfig
from unigen.errors import UserError
from unigen.registry import STRATEGIES
from unigen.assemble import place

from toys import contract_setup


def _run(name, stream, steps=6, device="cpu"):
    strategy = STRATEGIES.get(name)()
    torch.manual_seed(3)
    programs, data = contract_setup(strategy)
    trainer = Trainer(programs.to(device), strategy, data, batch_size=16, optim=OptimConfig(lr=1e-2),
                      device=torch.device(device), stream=stream)
    losses = [{k: v.clone() for k, v in trainer.step().items()} for _ in range(steps)]
    return trainer, losses


@pytest.mark.parametrize("name", ["elbo", "wgan", "cgan", "svae"])  # one phase; 5 critic repeats; labels; -1 labels
def test_streamed_batches_give_the_same_run_as_device_batches(name):
    resident, a = _run(name, stream=False)
    streamed, b = _run(name, stream=True)
    assert streamed.host is not None and resident.host is None
    assert_close(b, a, rtol=0, atol=0)
    assert_close(dict(streamed.programs.named_parameters()), dict(resident.programs.named_parameters()),
                 rtol=0, atol=0)


def test_a_streamed_step_draws_each_phase_repeat_a_fresh_batch():
    trainer, _ = _run("wgan", stream=True, steps=1)  # 5 critic batches + 1 generator batch per step
    assert trainer.host.slots == 6
    staged = trainer.host.device_x
    assert all(not torch.equal(staged[i], staged[j]) for i in range(6) for j in range(i))


def test_placement_keeps_host_data_on_the_host_and_refuses_unknown_values():
    _, data = contract_setup(STRATEGIES.get("elbo")())
    assert place(data, torch.device("cpu"), "host") is data
    assert place(data, torch.device("cpu"), "auto").x.device.type == "cpu"
    with pytest.raises(UserError, match="choose auto, device, host"):
        place(data, torch.device("cpu"), "disk")


def test_the_cli_trains_with_host_placement(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "experiments/configs/ring_gan.yaml", "train.steps=20", "train.device=cpu",
                 "train.data_placement=host", "train.log_every=10", "--out", str(run)]) == 0
    assert (run / "checkpoint.pt").is_file()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned streaming needs a GPU")
@pytest.mark.parametrize("compile", ["none", "cudagraph"])
def test_streamed_to_a_gpu_eager_or_captured_trains(compile):
    strategy = STRATEGIES.get("wgan")()
    programs, data = contract_setup(strategy)
    trainer = Trainer(programs.cuda(), strategy, data, batch_size=16, device=torch.device("cuda"),
                      compile=compile)
    assert trainer.host is not None
    for _ in range(6):
        out = trainer.step()
    assert all(bool(torch.isfinite(v)) for v in out.values())
