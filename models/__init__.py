"""lcad core: light curves -> windows -> dense autoencoder -> scores -> bundle.

Importing this package is cheap: Keras is imported only by the modules that build or run
a network (`models.autoencoder`, `models.detector`, `models.fit`).
"""

__version__ = "0.1.0"
