"""Neural-network building blocks: modules, layers, initialisers, penalties, noise."""

from tinyae.nn import init, noise, penalties
from tinyae.nn.layers import Activation, Dense, Sequential, TiedDense
from tinyae.nn.module import Module, Parameter

__all__ = ["Module", "Parameter", "Dense", "TiedDense", "Activation", "Sequential", "init", "noise", "penalties"]
