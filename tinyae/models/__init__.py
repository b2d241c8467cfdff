"""The autoencoder family as modules: deterministic autoencoders and the VAE."""

from tinyae.models.autoencoder import AutoencoderModule
from tinyae.models.vae import VAEModule

__all__ = ["AutoencoderModule", "VAEModule"]
