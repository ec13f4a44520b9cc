"""movierec: movie recommenders with Keras 3, from the classic tutorial to a service.

JAX is the default Keras backend: it is selected here, before Keras is imported anywhere,
unless the user already chose one with ``KERAS_BACKEND``.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"

__all__ = ["__version__"]
