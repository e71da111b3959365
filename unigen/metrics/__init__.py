"""Metrics of generated samples and likelihood bounds."""
from unigen.metrics.likelihood import has_likelihood, likelihood_bounds
from unigen.metrics.modes import mode_stats

__all__ = ["has_likelihood", "likelihood_bounds", "mode_stats"]
