"""unigen: write a generative model once as Pyro programs, train it with any strategy of the unified
GAN/VAE view (Hu et al., 2018).

>>> from unigen import Programs, Trainer
>>> from unigen.inference import ELBO, NonSaturatingGAN
>>> run = unigen.load_run("runs/mnist_vae")  # a trained run (or an export): run.programs, run.config
"""
from unigen.errors import UserError
from unigen.programs import Batch, DataInfo, Programs
from unigen.scoring import generate
from unigen.strategy import Phase, Strategy
from unigen.trainer import Trainer

# Registration happens here, and only here: each component package imports its modules by name, and
# each module registers its classes in unigen.registry's tables.
import unigen.data  # noqa: E402,F401  (datasets)
import unigen.inference  # noqa: E402,F401  (strategies)
import unigen.models  # noqa: E402,F401  (models)

__all__ = ["Batch", "DataInfo", "Phase", "Programs", "Strategy", "Trainer", "UserError", "generate", "load_run"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # loading pulls in the trainer and the models: import it only when load_run is asked for
    if name == "load_run":
        from unigen.loading import load_run

        return load_run
    raise AttributeError(f"module 'unigen' has no attribute {name!r}")
