"""The learner: Keras models, distributions, losses and the optimizer (imports TensorFlow)."""
