"""tinyae: autoencoders from scratch, with every gradient visible.

The engine is a reverse-mode autodiff :class:`Tensor` over NumPy arrays;
:func:`gradcheck` checks any gradient against finite differences.
"""

from tinyae import ops
from tinyae import functional
from tinyae.backend import available_backends, backend_of, get_backend
from tinyae.gradcheck import GradcheckError, gradcheck
from tinyae.graph import draw_graph, to_dot
from tinyae.ops import concatenate, maximum, minimum, where
from tinyae.tensor import Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad, unbroadcast
from tinyae import nn, optim
from tinyae.base import NotFittedError
from tinyae.estimators import Autoencoder, VariationalAutoencoder
from tinyae.models import AutoencoderModule, VAEModule
from tinyae.training import History, fit_module
from tinyae.checkpoint import CheckpointError, load, save
from tinyae.backend import current_backend, set_backend, use_backend

__version__ = "0.1.0"

__all__ = [
    "Tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled", "unbroadcast",
    "ops", "functional", "concatenate", "maximum", "minimum", "where",
    "gradcheck", "GradcheckError", "draw_graph", "to_dot",
    "get_backend", "backend_of", "available_backends",
    "nn", "optim", "Autoencoder", "VariationalAutoencoder", "AutoencoderModule", "VAEModule",
    "History", "fit_module", "NotFittedError", "load", "save", "CheckpointError",
    "set_backend", "use_backend", "current_backend",
]
