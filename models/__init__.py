"""lcad core (`lcad.models`): light curves -> windows -> dense autoencoder -> scores -> bundle.

Importing this package is cheap: Keras is imported only by the modules that build or run
a network (`autoencoder`, `detector`, `fit`). It knows nothing of MLflow, HTTP or files
other than its own bundle.
"""
