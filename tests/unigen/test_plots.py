"""The run figures: a 2-D scatter framed by the data (not by a collapsed generator), the loss panels of
``losses.png`` (a grid within 1,600 px, titled by the strategy's meanings, learning rates raw or left out, a 2 ln 2
line for BCE critics, no series drawn twice) and the step in the titles of sample figures."""
import json
import math

import matplotlib.pyplot as plt
import pytest
import torch

from unigen import plots
from unigen.data import Ring
from unigen.inference.adversarial import Adversarial
from unigen.registry import STRATEGIES


@pytest.fixture
def shown(monkeypatch):
    """The figures the plotting functions close, kept open for the test to read."""
    figs, close = [], plt.close
    monkeypatch.setattr(plots.plt, "close", figs.append)
    yield figs
    for f in figs:
        close(f)


@pytest.fixture
def figures():
    """Figures a test makes with :func:`plots.curves_figure`, closed after it."""
    made = []
    yield made
    for f in made:
        plt.close(f)


def test_a_collapsed_generator_is_drawn_on_axes_that_cover_the_reference(tmp_path, shown):
    spec = Ring()
    ref, centres = spec.load().x[:2500], spec.centres()
    collapsed = centres[0] + 0.01 * torch.randn(2500, 2)  # every sample at one mode
    plots.save_samples(collapsed, tmp_path / "s.png", reference=ref, centres=centres, title="ns_gan on ring", step=7)
    (ax,) = shown[0].axes
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < float(ref[:, 0].min()) and x1 > float(ref[:, 0].max())
    assert y0 < float(ref[:, 1].min()) and y1 > float(ref[:, 1].max())
    assert x1 - x0 == pytest.approx(y1 - y0) and ax.get_aspect() == 1.0  # equal aspect, square frame
    assert ax.get_title() == "ns_gan on ring, step 7"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert "mode centres" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_points_outside_the_frame_are_counted(tmp_path, shown):
    spec = Ring()
    x = spec.centres()[[0] * 100].clone()
    x[:3] = 50.0
    plots.save_samples(x, tmp_path / "s.png", reference=spec.load().x[:500])
    assert shown[0].axes[0].get_xlim()[1] < 50
    assert "3 of 100 generated points outside the axes" in shown[0].axes[0].get_title()


def test_sample_titles_name_the_step_with_thousands_separated(tmp_path, shown):
    plots.save_samples(torch.rand(4, 1, 8, 8), tmp_path / "a.png", title="elbo on mnist", step=3000)
    plots.save_samples(torch.rand(4, 1, 8, 8), tmp_path / "b.png", step=12)
    plots.save_samples(torch.rand(4, 1, 8, 8), tmp_path / "c.png", title="elbo on mnist")
    assert [f.axes[0].get_title() for f in shown] == ["elbo on mnist, step 3,000", "step 12", "elbo on mnist"]


def _rows(steps, **series):
    """Synthetic ``metrics.jsonl`` rows: ``series`` maps a name to a function of the step."""
    return [{"step": s, "kind": "train", "time": 0.0, **{k: f(s) for k, f in series.items()}} for s in steps]


def _write(tmp_path, rows):
    path = tmp_path / "metrics.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def _titles(fig):
    return [ax.get_title(loc="left").replace("\n", " ") for ax in fig.axes]


def _axis(fig, start: str):
    (ax,) = [ax for ax in fig.axes if ax.get_title(loc="left").startswith(start)]
    return ax


def _is_two_ln2(line) -> bool:
    return line.get_linestyle() == "--" and all(y == pytest.approx(2 * math.log(2)) for y in line.get_ydata())


def test_loss_panels_put_the_players_first_and_say_what_they_show(tmp_path, shown):
    rows = _rows(range(0, 500, 50), d_real=lambda s: 0.5, generator=lambda s: 1.0 + s / 1e3,
                 d_fake=lambda s: -0.5 - s / 1e4, discriminator=lambda s: 1.3 - s / 1e3)
    rows.append({"step": 500, "kind": "eval", "modes": 8})
    plots.save_curves(_write(tmp_path, rows), tmp_path / "l.png", smooth=3)
    titles = _titles(shown[0])
    assert [t.split(":")[0] for t in titles] == ["discriminator", "generator", "d_real", "d_fake"]
    assert "nats" in titles[1] and "mean critic logit on real data" in titles[2]
    assert "steps 0 to 450 (10 logged)" in shown[0].get_suptitle().replace("\n", " ")  # the eval row is no step
    height, width = plt.imread(tmp_path / "l.png").shape[:2]
    assert [width, height] == pytest.approx(shown[0].get_size_inches() * plots.DPI, abs=1)  # the figure, untrimmed
    assert width <= 1600 and height <= 1600


def test_panels_form_a_grid_whose_titles_fit_inside_the_figure(figures):
    long = "a meaning long enough that one line of a panel cannot hold it, " * 3
    rows = _rows(range(0, 300, 10), **{k: (lambda s, k=k: len(k) + math.sin(s)) for k in
                                       ("discriminator", "generator", "d_real", "d_fake", "penalty", "extra")})
    fig = plots.curves_figure(rows, meanings={"extra": long})
    figures.append(fig)
    assert len({round(ax.get_position().x0, 2) for ax in fig.axes}) == 3  # 6 panels: 3 columns, not one
    fig.canvas.draw()
    right = fig.bbox.x1
    for ax in fig.axes:
        assert ax._left_title.get_window_extent().x1 <= right + 1, ax.get_title(loc="left")
    assert "…" in _axis(fig, "extra").get_title(loc="left")  # cut, not run off the figure


def test_losses_png_stays_within_1600_pixels_with_many_series(figures):
    players = [f"player_{i}" for i in range(6)]
    series = {}
    for i, p in enumerate(players):
        series |= {p: lambda s, i=i: i + math.cos(s), f"lr/{p}": lambda s, i=i: 1e-3 * (1 + i + s / 1e4),
                   f"grad_norm/{p}": lambda s, i=i: 10 ** (i / 3) * (2 + math.sin(s))}
    series |= {f"diagnostic_{j}": lambda s, j=j: j * math.sin(s) for j in range(20)}
    fig = plots.curves_figure(_rows(range(0, 2_000_000, 100_000), **series), players=players)
    figures.append(fig)
    width, height = fig.get_size_inches() * plots.DPI  # the PNG's pixels (save_curves saves at DPI, untrimmed)
    assert max(width, height) <= 1600 and min(width, height) > 800
    assert len(fig.axes) == 6 + 20 + 2  # the players' rates and norms share a panel each


def test_learning_rates_are_drawn_raw_and_left_out_when_constant(figures):
    steps = range(0, 1000, 10)
    wave = _rows(steps, discriminator=lambda s: math.sin(s), **{"lr/discriminator": lambda s: 2e-3,
                                                                "lr/generator": lambda s: 2e-3})
    fig = plots.curves_figure(wave, smooth=5)
    figures.append(fig)
    assert not [t for t in _titles(fig) if "learning rate" in t]
    assert "constant learning rate 0.002 (every player)" in fig.get_suptitle().replace("\n", " ")

    triangle = lambda s: 1e-3 * min(s, 1000 - s) / 500  # warm-up then decay: not monotone  # noqa: E731
    fig = plots.curves_figure(_rows(steps, discriminator=lambda s: math.sin(s), **{"lr/generator": triangle,
                                                                                  "lr/discriminator": lambda s: 1e-4}),
                              smooth=5)
    figures.append(fig)
    (line,) = _axis(fig, "lr/generator").get_lines()  # one line, the logged values, though the losses are smoothed
    assert list(line.get_ydata()) == [triangle(s) for s in steps]
    assert len(_axis(fig, "discriminator").get_lines()) == 2  # faint raw and its moving average
    assert "constant learning rate 0.0001 (discriminator)" in fig.get_suptitle().replace("\n", " ")


def test_a_bce_critic_has_a_dashed_line_at_2_ln_2_and_a_wgan_critic_none(tmp_path, monkeypatch, figures):
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, dpi: figures.append(fig))  # the figures, unsaved
    rows = _rows(range(0, 200, 10), discriminator=lambda s: 1.2 + math.sin(s) / 10, generator=lambda s: 0.9,
                 d_real=lambda s: 0.3, d_fake=lambda s: -0.2 + s / 1e3)
    path = _write(tmp_path, rows)
    plots.save_curves(path, tmp_path / "ns.png", strategy=STRATEGIES.get("ns_gan")())  # as run.py calls it
    plots.save_curves(path, tmp_path / "w.png", strategy=STRATEGIES.get("wgan")())
    ns, wgan = figures
    assert [ax.get_title(loc="left").split(":")[0] for ax in ns.axes if any(map(_is_two_ln2, ax.get_lines()))] \
        == ["discriminator"]
    assert "binary cross-entropy" in _axis(ns, "discriminator").get_title(loc="left")
    assert not [ax for ax in wgan.axes if any(map(_is_two_ln2, ax.get_lines()))]
    assert "WGAN critic loss" in _axis(wgan, "discriminator").get_title(loc="left").replace("\n", " ")


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_bce_declarations_match_the_critic_losses(name):
    """A strategy's ``bce_losses`` are its players; a GAN declares its discriminator BCE exactly when it keeps the
    skeleton's binary cross-entropy (``Adversarial.critic_loss``)."""
    strategy = STRATEGIES.get(name)()
    bce = set(getattr(strategy, "bce_losses", ()))
    assert bce <= set(strategy.players)
    if isinstance(strategy, Adversarial):
        assert ("discriminator" in bce) == (type(strategy).critic_loss is Adversarial.critic_loss), name
    if name == "fgan":
        assert STRATEGIES.get(name)(divergence="gan").bce_losses == ("discriminator",)


def test_a_series_that_mirrors_another_is_drawn_once(figures):
    fig = plots.curves_figure(_rows(range(0, 100, 10), vae=lambda s: 300 - s, bound=lambda s: s - 300,
                                    reconstruction=lambda s: 250 - s / 2), players=["vae"])
    figures.append(fig)
    assert [t.split(":")[0] for t in _titles(fig)] == ["vae", "reconstruction"]
    assert _titles(fig)[0].endswith("(= −bound)")
    # WGAN: the generator's − E D(G(z)) a batch after the critic's d_fake draws d_fake's curve upside down
    fig = plots.curves_figure(_rows(range(0, 200, 10), generator=lambda s: s / 10 + 0.01 * math.sin(s),
                                    d_fake=lambda s: -s / 10, d_real=lambda s: s / 10 + 0.5 * math.sin(s)),
                              players=["generator"])
    figures.append(fig)
    assert [t.split(":")[0] for t in _titles(fig)] == ["generator", "d_real"]  # d_real is another curve
    assert _titles(fig)[0].endswith("(≈ −d_fake)")


def test_snapshots_name_their_step(tmp_path, shown):
    from unigen.assemble import build
    from unigen.config import resolve
    from unigen.sampling import snapshot, write_samples

    built = build(resolve({"data": {"name": "ring"}, "model": {"name": "mlp", "hidden": 8, "disc_hidden": 8},
                           "strategy": {"name": "ns_gan"}, "train": {"device": "cpu"}}))
    snapshot(built, tmp_path / "samples" / "step_003000.png", 3000)
    built.step = 1234  # a loaded run's step (unigen.loading)
    write_samples(built, tmp_path / "samples.png", n=50)
    assert [f.axes[0].get_title().split("\n")[0] for f in shown] == ["ns_gan on ring, step 3,000",
                                                                     "ns_gan on ring, step 1,234"]


def test_smoothing_is_a_trailing_moving_average():
    assert plots._smoothed([0.0, 2.0, 4.0, 6.0], 2) == [0.0, 1.0, 3.0, 5.0]
