"""The run figures: a 2-D scatter framed by the data (not by a collapsed generator), loss panels in order."""
import json

import matplotlib.pyplot as plt
import pytest
import torch

from unigen import plots
from unigen.data import Ring


@pytest.fixture
def shown(monkeypatch):
    """The figures the plotting functions close, kept open for the test to read."""
    figs, close = [], plt.close
    monkeypatch.setattr(plots.plt, "close", figs.append)
    yield figs
    for f in figs:
        close(f)


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


def test_loss_panels_put_the_players_first_and_say_what_they_show(tmp_path, shown):
    rows = [{"step": s, "kind": "train", "time": 0.0, "d_real": 0.5, "generator": 1.0, "d_fake": -0.5,
             "discriminator": 1.3} for s in range(0, 500, 50)]
    rows.append({"step": 500, "kind": "eval", "modes": 8})
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    plots.save_curves(tmp_path / "m.jsonl", tmp_path / "l.png", smooth=3)
    titles = [ax.get_title(loc="left") for ax in shown[0].axes if ax.get_title(loc="left")]
    assert [t.split(" ")[0] for t in titles] == ["discriminator", "generator", "d_real", "d_fake"]
    assert "nats" in titles[0] and "mean critic logit on real data" in titles[2]
    assert (tmp_path / "l.png").stat().st_size > 1000


def test_smoothing_is_a_trailing_moving_average():
    assert plots._smoothed([0.0, 2.0, 4.0, 6.0], 2) == [0.0, 1.0, 3.0, 5.0]
