"""The learner: Keras models, distributions, losses and the optimizer (imports TensorFlow)."""

from dreamerv3_tf import tfimport as _tfimport

_tfimport.load()  # with the garbage collector paused: about 1 s sooner
