"""Helpers shared by several test modules."""

import tinyae as ta
from tinyae.nn import Module, Parameter


def module_gradcheck(model: Module, loss_fn, **kwargs) -> bool:
    """``tinyae.gradcheck`` of ``loss_fn(model)`` w.r.t. every Parameter of ``model``.

    gradcheck hands ``fn`` float64 *copies* of its inputs and differentiates
    with respect to those, so ``fn`` swaps them into the model in place of
    the current Parameters (every attribute holding one, so a tied weight is
    swapped in both layers). The copies become Parameters (same slots) so
    ``named_parameters()`` -- used e.g. by weight decay -- still finds them.
    """
    def fn(*xs):
        swap = {id(p): x for p, x in zip(model.parameters(), xs)}
        for x in xs:
            x.__class__ = Parameter
        for m in model.modules():
            for key, value in list(vars(m).items()):
                if isinstance(value, Parameter) and id(value) in swap:
                    setattr(m, key, swap[id(value)])
        return loss_fn(model)

    return ta.gradcheck(fn, *model.parameters(), **kwargs)
