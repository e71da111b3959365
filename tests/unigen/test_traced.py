"""train.compile=trace: the traced graph replays eager updates bit for bit; compiled by inductor, its losses and
gradients match eager in distribution (on a CPU, with eager's random numbers, to rounding); traces are counted;
refusals name the fix; resume and flags work."""
import json
import pyro
import pytest
import torch
from scipy import stats
from torch.testing import assert_close

from unigen import Trainer
from unigen.cli import main
from unigen.execution import check_compile
from unigen.config import OptimConfig
from unigen.errors import UserError
from unigen.registry import STRATEGIES
from unigen.traced import UNTRACEABLE, TracedStep
from unigen.watch import NonFiniteError

from toys import contract_setup

CPU = torch.device("cpu")
CUDA = pytest.param(torch.device("cuda"), marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                     reason="the CUDA variant needs a GPU"))
DEVICES = [CPU, CUDA]  # the CUDA variants run where a GPU is (benchmarks/device_visit.sh)
SETTINGS = {"wgan": {"clip": 0.0, "penalty": "gp"}}  # WGAN-GP: a double backward in the graph


def _trainer(name, compile, optim=OptimConfig(lr=1e-3), total=6, device=CPU, **settings):
    strategy = STRATEGIES.get(name)(**(SETTINGS.get(name, {}) | settings))
    pyro.set_rng_seed(0)
    pyro.enable_validation(False)
    programs, data = contract_setup(strategy)
    return Trainer(programs.to(device), strategy, data.to(device), batch_size=32, optim=optim, compile=compile,
                   total_steps=total)


def _rng_states():
    return torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []


def _set_rng_states(states):
    torch.set_rng_state(states[0])
    if states[1]:
        torch.cuda.set_rng_state_all(states[1])


def _steps(trainer, n):
    return [{k: v.clone() for k, v in trainer.step().items()} for _ in range(n)]


def _graphs(trainer) -> tuple[int, int]:
    """The graphs a traced trainer's step has and the graph calls it makes: one and one when its phases run
    once each (``Execution.one_graph``), else one a phase and one an update."""
    phases = trainer.strategy.phases()
    if len(phases) > 1 and all(ph.repeats == 1 for ph in phases):
        return 1, 1
    return len(phases), sum(ph.repeats for ph in phases)


def _optimizer_states(trainer):
    return {f"{p}.{i}.{k}": v for p, o in trainer.optimizers.items()
            for i, s in enumerate(o.state.values()) for k, v in s.items()}


# ----------------------------------------------------------------------------------- bit for bit (no inductor)
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["elbo", "iwae", "ns_gan", "wgan", "aae"])
def test_the_traced_graph_replays_eager_updates_bit_for_bit(name, device):
    torch.manual_seed(1)
    eager = _trainer(name, "none", device=device)
    eager_losses = _steps(eager, 4)
    torch.manual_seed(1)
    traced = _trainer(name, "trace-eager", device=device)
    traced_losses = _steps(traced, 4)
    graphs, calls = _graphs(traced)
    assert traced.traced.traces == graphs and traced.traced.replays == 4 * calls  # every update in a replay
    if name in ("ns_gan", "aae"):  # several phases, none repeated: the step is one graph
        assert graphs == calls == 1
    for i, (a, b) in enumerate(zip(eager_losses, traced_losses)):
        assert_close(b, a, rtol=0, atol=0, msg=lambda m: f"{name}, step {i}: {m}")
    assert_close(dict(traced.programs.named_parameters()), dict(eager.programs.named_parameters()), rtol=0, atol=0)
    assert_close(dict(traced.programs.named_buffers()), dict(eager.programs.named_buffers()), rtol=0, atol=0)
    assert_close(_optimizer_states(traced), _optimizer_states(eager), rtol=0, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(STRATEGIES.names()) - {"elbo", "iwae", "ns_gan", "wgan", "aae"}
                                        - set(UNTRACEABLE)))
def test_every_registered_strategy_traces_and_replays_eager_updates(name):
    torch.manual_seed(1)
    eager_losses = _steps(_trainer(name, "none"), 2)
    torch.manual_seed(1)
    traced = _trainer(name, "trace-eager")
    assert_close(_steps(traced, 2), eager_losses, rtol=0, atol=0)
    assert traced.traced.traces == _graphs(traced)[0]


def test_a_cosine_schedule_fills_the_graphs_rate_like_eager():
    optim = OptimConfig(lr=1e-2, schedule="cosine", warmup=2)
    torch.manual_seed(1)
    eager = _trainer("ns_gan", "none", optim, total=5)
    _steps(eager, 5)
    torch.manual_seed(1)
    traced = _trainer("ns_gan", "trace-eager", optim, total=5)
    _steps(traced, 5)
    for player in eager.optimizers:
        assert float(traced.optimizers[player].param_groups[0]["lr"]) == eager.optimizers[player].param_groups[0]["lr"]
    assert_close(dict(traced.programs.named_parameters()), dict(eager.programs.named_parameters()), rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_a_traced_run_resumed_from_a_checkpoint_continues_identically(device):
    torch.manual_seed(1)
    whole = _trainer("ns_gan", "trace-eager", total=7, device=device)
    _steps(whole, 7)
    torch.manual_seed(1)
    half = _trainer("ns_gan", "trace-eager", total=7, device=device)
    _steps(half, 4)
    state, rng = half.state_dict(), _rng_states()
    resumed = _trainer("ns_gan", "trace-eager", total=7, device=device)
    resumed.load_state_dict(state)
    _set_rng_states(rng)
    _steps(resumed, 3)
    assert resumed.traced.replays == 3  # the resumed steps were replays too (one graph each)
    assert_close(dict(resumed.programs.named_parameters()), dict(whole.programs.named_parameters()), rtol=0, atol=0)
    assert_close(_optimizer_states(resumed), _optimizer_states(whole), rtol=0, atol=0)


def test_non_finite_weights_are_flagged_on_the_device_as_in_eager():
    messages = []
    for compile in ("none", "trace-eager"):
        trainer = _trainer("ns_gan", compile, OptimConfig(lr=1e38))  # weights past ~1e19 read as non-finite
        with pytest.raises(NonFiniteError) as e:
            trainer.fit(3, progress=False)
        messages.append(str(e.value))
    assert messages[0] == messages[1] and "non-finite weights after an update" in messages[1]


# ----------------------------------------------------------------------------------- traces, counted
def test_a_graph_is_traced_once_per_key_and_shapes_and_reads_its_state_as_inputs():
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([w], lr=torch.tensor(0.1, dtype=torch.float64), fused=True)
    counter = torch.zeros(())

    def update(x):
        opt.zero_grad(set_to_none=True)
        loss = ((w * x).sum() - counter) ** 2
        loss.backward()
        opt.step()
        counter.add_(1.0)  # in place, read back by the next update
        return {"loss": loss.detach()}

    step = TracedStep.over(torch.nn.ParameterList([w]), [opt], [counter], "toy", "trace-eager")
    twin_w = torch.nn.Parameter(torch.ones(3))
    twin = torch.optim.Adam([twin_w], lr=0.1, fused=True)
    for i, n in enumerate([4, 4, 4, 5, 4, 5]):
        x = torch.full((n, 3), 0.5)
        got = step("update", update, x)["loss"]
        twin.zero_grad(set_to_none=True)
        want = ((twin_w * x).sum() - i) ** 2
        want.backward()
        twin.step()
        assert_close(got, want.detach(), rtol=0, atol=0)
    assert step.traces == 2 and step.replays == 6 and float(counter) == 6
    assert_close(w.detach(), twin_w.detach(), rtol=0, atol=0)


# ----------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("kwargs, message", [
    (dict(skip_nonfinite=True), "use train.on_nan=error with train.compile=trace"),
    (dict(world_size=2), "train.compile=trace runs in a single process"),
    (dict(strategy_name="host_bound"), "cannot be traced (it reads its loss on the host); use train.compile=none"),
])
def test_refusals_name_the_problem_and_the_fix(kwargs, message, monkeypatch):
    monkeypatch.setitem(UNTRACEABLE, "host_bound", "it reads its loss on the host")
    args = dict(mode="trace", device=CPU, strategy_name="ns_gan", capturable=True, skip_nonfinite=False,
                world_size=1) | kwargs
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_compile(**args)
    check_compile("trace", CPU, "ns_gan", "not capturable: irrelevant to tracing", False, 1)


def test_an_update_that_reads_a_tensor_on_the_host_is_refused_in_one_line():
    w = torch.nn.Parameter(torch.ones(2))
    step = TracedStep.over(torch.nn.ParameterList([w]), [], [], "strategy 'toy'", "trace-eager")

    def update(x):
        return {"loss": w * x.sum().item()}

    with pytest.raises(UserError, match="strategy 'toy' could not be traced into one graph .* train.compile=none"):
        step("update", update, torch.ones(2))
    assert_close(w.detach(), torch.ones(2))


def test_cli_refuses_trace_with_on_nan_skip_in_one_line(tmp_path, capsys):
    code = main(["train", "experiments/configs/ring_gan.yaml", "train.steps=2", "train.device=cpu",
                 "train.compile=trace", "train.on_nan=skip", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "train.on_nan=skip" in err


def test_the_cli_trains_a_traced_run_end_to_end(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "experiments/configs/ring_gan.yaml", "train.steps=30", "train.batch_size=64",
                 "train.device=cpu", "train.compile=trace-eager", "train.log_every=10", "train.progress=false",
                 "eval.num_samples=200", "--out", str(run)]) == 0
    assert (run / "checkpoint.pt").is_file() and (run / "eval.json").is_file()
    # the timing row records the traces (one: ns_gan's two phases, discriminator and generator, run once a step
    # in one graph), the graph calls (every one of the 30 steps, the first right after its trace) and the seconds
    timing = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "timing"]
    assert len(timing) == 1 and timing[0]["traces"] == 1 and timing[0]["replays"] == 30
    assert 0 < timing[0]["compile_s"] < timing[0]["wall_s"]


# ----------------------------------------------------------------------------------- inductor (compiles: slow)
@pytest.mark.slow
@pytest.mark.parametrize("device, scalars", [(CPU, "host"), (CPU, "graph"),
                                             pytest.param(torch.device("cuda"), "auto", marks=CUDA.marks)])
def test_inductor_adam_with_host_or_graph_bias_corrections_follows_eager_adam(device, scalars):
    """A deterministic update (no random numbers), so compiled and eager must agree to rounding: the decomposed
    Adam's scalars (on the host, or in the graph as on CUDA), the weight decay, and a rate that a schedule
    fills between updates."""
    w = torch.nn.Parameter(torch.linspace(-1, 1, 8, device=device))
    twin_w = torch.nn.Parameter(w.detach().clone())
    rate = torch.float64 if device.type == "cpu" else torch.float32  # as unigen.optim.make_optimizer keeps it
    opts = [torch.optim.Adam([p], lr=torch.tensor(0.05, dtype=rate, device=device), betas=(0.8, 0.99),
                             weight_decay=0.1, fused=True) for p in (w, twin_w)]
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t)) for o in opts]
    target = torch.linspace(0, 2, 8, device=device)

    def update(p, opt, x):
        opt.zero_grad(set_to_none=True)
        loss = ((p * x - target) ** 2).sum()
        loss.backward()
        opt.step()
        return loss.detach()

    step = TracedStep.over(torch.nn.ParameterList([w]), [opts[0]], [], "toy", "trace", adam_scalars=scalars)
    for i in range(8):
        x = torch.full((8,), 1.0 + 0.1 * i, device=device)
        got = step("update", lambda x: update(w, opts[0], x), x)
        want = update(twin_w, opts[1], x)
        assert_close(got, want, rtol=1e-5, atol=1e-6)
        for s in schedules:
            s.step()
    assert step.traces == 1 and step.compile_seconds > 0
    assert [bool(hosts) for *_, hosts in step.graphs.values()] == [scalars == "host"]  # host keepers only on host
    assert_close(w.detach(), twin_w.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_inductor_losses_and_gradients_match_eager_in_distribution(device):
    """With a zero rate and beta1 = 0, each update leaves the parameters fixed and Adam's first moment equal to
    that update's gradient, so both runs draw i.i.d. losses and gradients (fresh batches and latents) from the
    same distribution. Two-sample Kolmogorov–Smirnov tests on the loss and on 4 gradient coordinates per
    player, Bonferroni-corrected: the false-alarm rate of the whole test is at most 1e-3."""
    optim = OptimConfig(lr=0.0, betas=[0.0, 0.999])
    draws = {}
    for compile in ("none", "trace"):
        torch.manual_seed(2)
        trainer = _trainer("elbo", compile, optim, device=device)
        rows = []
        for _ in range(300):
            loss = trainer.step()["vae"]
            moments = [trainer.optimizers["vae"].state[p]["exp_avg"].flatten()[:4] for p in trainer.params["vae"][:2]]
            rows.append(torch.cat([loss.reshape(1), *moments]))
        draws[compile] = torch.stack(rows).double().cpu()
        trainer.raise_if_nonfinite()
    assert trainer.traced.traces == 1
    if trainer.graphed is not None:  # CUDA: the step of compiled updates is captured after its warm-up
        assert trainer.graphed.replays == 300 - trainer.graphed.warmup
    else:
        assert device.type == "cpu" and trainer.traced.replays == 300
    eager, compiled = draws["none"], draws["trace"]
    assert eager.std(0).min() > 0  # the statistics vary: the test has something to compare
    tests = eager.shape[1]
    p_values = [stats.ks_2samp(eager[:, j].numpy(), compiled[:, j].numpy()).pvalue for j in range(tests)]
    assert min(p_values) > 1e-3 / tests, p_values
    if device.type == "cpu":  # eager's random numbers (unigen.inductor.CPU_OPTIONS): the same draws, fused rounding
        assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    else:
        assert not torch.equal(eager, compiled)  # inductor draws its own random numbers


def test_on_a_cpu_a_compiled_update_draws_eagers_random_numbers_in_eagers_order():
    """Every kind of draw in the graph (``randn``, ``rand``, ``randint``, ``bernoulli`` and ``normal_``, Pyro's), two
    of them independent of each other and of the rest (inductor may reorder such): the compiled update returns eager's
    numbers bit for bit and leaves torch's generator where eager leaves it."""
    w = torch.nn.Parameter(torch.ones(3))

    def update(x):
        z = torch.empty(8, 3).normal_()  # drawn first, used last
        noise = torch.empty(8, 3).normal_()
        out = {"noise": noise * 2, "randn": torch.randn(4, 3) * x[:4], "rand": torch.rand(2, 3),
               "randint": torch.randint(10, (5,)), "bernoulli": torch.bernoulli(torch.full((3, 3), 0.3))}
        return out | {"z": z + w}

    step = TracedStep.over(torch.nn.ParameterList([w]), [], [], "toy", "trace")
    x = torch.ones(8, 3)
    torch.manual_seed(5)
    compiled = [step("update", update, x) for _ in range(3)]
    after = torch.get_rng_state()
    torch.manual_seed(5)
    with torch.no_grad():
        eager = [update(x) for _ in range(3)]
    assert step.traces == 1 and step.replays == 3
    assert_close(compiled, eager, rtol=0, atol=0)
    assert torch.equal(after, torch.get_rng_state())


@pytest.mark.slow
def test_on_a_cpu_compiled_gan_updates_follow_eager_updates_to_rounding():
    """The contract toys' ns_gan (Pyro's Normal draws in the generator, the likelihood's and the latents', independent
    of each other): compiled, its losses and weights follow the uncompiled graph's to rounding, as they draw the same
    numbers for the same tensors. (With inductor's default random numbers the likelihood's noise was drawn before the
    latents: losses apart by 1%.)"""
    def run(compile):
        torch.manual_seed(1)
        trainer = _trainer("ns_gan", compile)
        return trainer, _steps(trainer, 3), torch.get_rng_state()

    traced, losses, rng = run("trace")
    eager, eager_losses, eager_rng = run("trace-eager")
    assert_close(losses, eager_losses, rtol=1e-4, atol=1e-6)
    assert_close(dict(traced.programs.named_parameters()), dict(eager.programs.named_parameters()), rtol=1e-4,
                 atol=1e-6)
    assert torch.equal(rng, eager_rng)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the CUDA variant needs a GPU")
def test_on_cuda_the_compiled_updates_of_a_step_are_captured_in_one_graph():
    trainer = _trainer("ns_gan", "trace", total=10, device=torch.device("cuda"))
    trainer.fit(10, log_every=5, progress=False)
    warmup = trainer.graphed.warmup
    assert trainer.traced.traces == 1 and trainer.graphed.replays == 10 - warmup
    assert trainer.compile_stats()["graph_replays"] == 10 - warmup
    assert trainer.traced.replays == warmup + 1  # the warm-up steps and the capture ran from Python
    assert all(torch.isfinite(p).all() for p in trainer.programs.parameters())
    assert _trainer("ns_gan", "trace").graphed is None  # a CPU run is not captured


def test_scalar_constants_baked_in_by_tracing_move_to_the_graphs_device():
    """A literal wrapped in a CPU tensor becomes a graph constant; on a GPU it must live there (a host-to-device
    copy at each call cannot be captured). The meta device stands in for CUDA here."""
    from torch.fx.experimental.proxy_tensor import make_fx

    from unigen.graph_passes import scalar_constants_to

    gm = make_fx(lambda x: x * torch.tensor(2.0) + torch.ones(3))(torch.ones(3))
    constants = [n.target for n in gm.graph.nodes if n.op == "get_attr"]
    assert constants and all(getattr(gm, c).device.type == "cpu" for c in constants)
    scalar_constants_to(gm, CPU)  # a CPU graph: unchanged
    assert all(getattr(gm, c).device.type == "cpu" for c in constants)
    scalar_constants_to(gm, torch.device("meta"))
    moved = {c: getattr(gm, c) for c in constants}
    assert all(v.device.type == ("meta" if v.dim() == 0 else "cpu") for v in moved.values())
    assert any(v.dim() == 0 for v in moved.values())


@pytest.mark.slow
def test_inductor_runs_are_reproducible_run_to_run_and_resume_identically():
    """Compiled by inductor (its own random numbers, seeded from torch's generator): two seeded runs agree bit for
    bit, and a run resumed from a checkpoint after 4 of 7 steps ends where the uninterrupted run ends."""
    def run(steps, state=None):
        torch.manual_seed(3)
        trainer = _trainer("ns_gan", "trace", total=7)
        if state is not None:
            trainer.load_state_dict(state[0])
            _set_rng_states(state[1])
        losses = _steps(trainer, steps)
        return trainer, losses

    whole, losses = run(7)
    again, losses_again = run(7)
    for a, b in zip(losses, losses_again):
        assert_close(b, a, rtol=0, atol=0)
    assert_close(dict(again.programs.named_parameters()), dict(whole.programs.named_parameters()), rtol=0, atol=0)
    half, _ = run(4)
    resumed, tail = run(3, (half.state_dict(), _rng_states()))
    assert resumed.traced.traces == 1  # the step traced again after the checkpoint was loaded
    for a, b in zip(losses[4:], tail):
        assert_close(b, a, rtol=0, atol=0)
    assert_close(dict(resumed.programs.named_parameters()), dict(whole.programs.named_parameters()), rtol=0, atol=0)
    assert_close(_optimizer_states(resumed), _optimizer_states(whole), rtol=0, atol=0)


def _toy_step(backend):
    w = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.Adam([w], lr=torch.tensor(0.1, dtype=torch.float64), fused=True)

    def update(x):
        opt.zero_grad(set_to_none=True)
        loss = ((w * x).sum() - 1.0) ** 2
        loss.backward()
        opt.step()
        return {"loss": loss.detach()}

    return w, TracedStep.over(torch.nn.ParameterList([w]), [opt], [], "strategy 'toy'", backend), update


def test_inductor_compiles_the_traced_graph_without_dynamo_once_at_the_trace(capsys):
    """The graph goes to inductor directly: no frame is handed to dynamo, at the trace or at any replay, and the
    compiled updates follow the uncompiled graph's (same arithmetic up to fused rounding). Inductor's on-disk FX
    graph cache still serves it: the same graph compiled again is a cache hit (without a shape environment
    inductor would bypass its cache)."""
    from torch._dynamo.utils import counters

    w, step, update = _toy_step("trace")
    w_eager, step_eager, update_eager = _toy_step("trace-eager")
    captured = dict(counters["stats"])  # dynamo's: the graphs it captured and the calls it traced
    for i in range(4):
        x = torch.full((4, 3), 0.25 * (i + 1))
        assert_close(step("update", update, x)["loss"], step_eager("update", update_eager, x)["loss"])
    assert dict(counters["stats"]) == captured
    assert step.traces == 1 and step.replays == 4 and step.compile_seconds > 0
    assert_close(w.detach(), w_eager.detach())
    from torch._inductor import config as inductor

    capsys.readouterr()
    _, again, update_again = _toy_step("trace")
    again("update", update_again, torch.ones(4, 3))
    err = capsys.readouterr().err
    assert "traced and compiled update 'update' (inputs 4×3)" in err
    if inductor.fx_graph_cache and not inductor.force_disable_caches:
        assert "; inductor's FX graph cache: hit" in err


def test_random_numbers_drawn_while_compiling_are_given_back(monkeypatch):
    """Inductor may draw random inputs to time its choices (on CUDA, only when its cache misses); the generators are
    put back after compiling, so a run's random numbers do not depend on the cache. The toy update draws none."""
    import torch._inductor.compile_fx as compile_fx

    real = compile_fx.compile_fx

    def drawing(*args, **kwargs):
        torch.rand(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(compile_fx, "compile_fx", drawing)
    _, step, update = _toy_step("trace")
    before = torch.get_rng_state()
    step("update", update, torch.ones(4, 3))
    assert torch.equal(torch.get_rng_state(), before)


def test_a_compiler_failure_is_one_line_naming_the_uncompiled_modes(monkeypatch, capsys):
    """Inductor fails whichever wrapper calls the kernels: the first error is reported, once, and no line claims that
    the Python wrapper took over."""
    import torch._inductor.compile_fx as compile_fx

    def broken(*args, **kwargs):
        raise RuntimeError("C++ compiler not found\nmore detail")

    monkeypatch.setattr(compile_fx, "compile_fx", broken)
    w, step, update = _toy_step("trace")
    with pytest.raises(UserError, match=r"^strategy 'toy': inductor could not compile the traced update \(RuntimeError: "
                                        r"C\+\+ compiler not found\); use train.compile=trace-eager or "
                                        r"train.compile=none$"):
        step("update", update, torch.ones(4, 3))
    assert_close(w.detach(), torch.ones(3))  # the tracing run was undone
    assert "C++ wrapper" not in capsys.readouterr().err


@pytest.mark.slow
def test_inductor_compiles_a_dcgan_step_with_static_shapes():
    """Inductor is given fake inputs of static shapes, as ``torch.compile(dynamic=False)`` gives them. Given the
    real tensors it would make every size a symbol, and a DCGAN's update (batch norms, transposed convolutions)
    failed to compile (a symbolic float in ``tensorify_python_scalars``). A tiny DCGAN under ns_gan now compiles,
    both phases replay, and its losses follow the uncompiled graph's."""
    from unigen.data.base import TensorData
    from unigen.programs import DataInfo
    from unigen.registry import MODELS

    info = DataInfo(shape=(1, 32, 32), support="symmetric")
    data = TensorData(2 * torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(0)) - 1, None, info)

    def run(compile):
        torch.manual_seed(0)
        programs = MODELS.get("dcgan")(ngf=4, ndf=4, z_dim=8).build(info)
        trainer = Trainer(programs, STRATEGIES.get("ns_gan")(), data, batch_size=4, compile=compile)
        return trainer, [{k: float(v) for k, v in trainer.step().items()} for _ in range(3)]

    traced, losses = run("trace")
    _, eager_losses = run("trace-eager")
    assert traced.traced.traces == 1 and traced.traced.replays == 3  # one graph for the step's two phases
    for got, want in zip(losses, eager_losses):
        assert got == pytest.approx(want, rel=1e-3, abs=1e-4)


def test_on_a_cpu_the_kernels_are_called_from_the_cpp_wrapper_with_the_python_wrappers_results():
    """On a CPU inductor's C++ wrapper calls the kernels (less host work a replay than generated Python). It runs
    the same kernels: an update that writes its input in place and draws random numbers in the graph gives the
    same outputs and writes, bit for bit, through either wrapper, from the same generator state."""
    from torch._inductor.codecache import PyCodeCache
    from torch.fx.experimental.proxy_tensor import make_fx

    from unigen.inductor import CPU_OPTIONS, compile_graph

    def update(w, x):
        w.mul_(0.5).add_(torch.rand_like(w))  # an in-place write of a state input, with an in-graph draw
        return [(w * x).relu().sum(), torch.randn_like(x) + 0.125]

    w0, x = torch.randn(5, 7, generator=torch.Generator().manual_seed(3)), torch.linspace(-1, 1, 35).reshape(5, 7)

    def compiled(options):
        gm = make_fx(update)(w0.clone(), x)
        loaded = len(PyCodeCache.modules)
        run = compile_graph(gm, [w0, x], options)
        (module,) = PyCodeCache.modules[loaded:]  # the wrapper inductor generated (or took from its cache)
        w = w0.clone()
        torch.manual_seed(11)
        return open(module.__file__).read(), [w, *run(w, x)]

    cpp_source, cpp = compiled(None)  # unigen's own settings on a CPU
    py_source, py = compiled(CPU_OPTIONS | {"cpp_wrapper": False})
    assert "CppWrapperCodeCache" in cpp_source and "CppWrapperCodeCache" not in py_source
    assert not torch.equal(cpp[0], w0)  # written in place
    for a, b in zip(cpp, py):
        assert_close(a, b, rtol=0, atol=0)


def test_where_the_cpp_wrapper_fails_the_kernels_are_called_from_python_with_one_line(monkeypatch, capsys):
    """The C++ wrapper fails late, after inductor has worked on the graph (its compiled wrapper cannot be loaded):
    a spare copy of the graph is compiled with the Python wrapper, and the updates follow the uncompiled graph's."""
    from torch._inductor.codecache import CppWrapperCodeCache

    def refuse(*args, **kwargs):
        raise NotImplementedError("no C shim for aten::toy\nmore detail")

    monkeypatch.setattr(CppWrapperCodeCache, "load_pybinding", refuse)
    w, step, update = _toy_step("trace")
    w_eager, step_eager, update_eager = _toy_step("trace-eager")
    capsys.readouterr()
    for i in range(3):
        x = torch.full((4, 3), 0.5 * (i + 1))
        assert_close(step("update", update, x)["loss"], step_eager("update", update_eager, x)["loss"])
    err = capsys.readouterr().err
    line = ("unigen: inductor's C++ wrapper could not compile the traced update (NotImplementedError: no C shim for "
            "aten::toy); its kernels are called from Python instead (TORCHINDUCTOR_CPP_WRAPPER=0 skips the attempt)\n")
    assert err.count(line) == 1 and err.count("C++ wrapper") == 1
    assert "traced and compiled update 'update'" in err and step.replays == 3
    assert_close(w.detach(), w_eager.detach())


def test_torchinductors_own_switch_turns_the_cpp_wrapper_off(monkeypatch):
    from unigen.inductor import own_options

    cpu = [torch.ones(2)]
    assert own_options(cpu)["cpp_wrapper"] is True
    monkeypatch.setenv("TORCHINDUCTOR_CPP_WRAPPER", "0")
    assert own_options(cpu) == {"layout_optimization": False, "cpp_wrapper": False, "fallback_random": True}
