"""movierec: movie recommenders with Keras 3, from the classic tutorial to a service.

JAX is the default Keras backend: it is selected here, before Keras is imported anywhere,
unless the user already chose one with ``KERAS_BACKEND``.
"""

import os
from importlib import metadata

os.environ.setdefault("KERAS_BACKEND", "jax")

try:  # the installed distribution's version: pyproject.toml is the one place it is set
    __version__ = metadata.version("movierec")
except metadata.PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
