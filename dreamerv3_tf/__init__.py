"""dreamerv3_tf: DreamerV3 in TensorFlow 2 / Keras.

Importing the package is cheap: TensorFlow is imported only by the learning layer
(`dreamerv3_tf.agent`, `data`, `checkpoint`, `export`, ...), never by `core/` or `envs/`.
"""

__version__ = '0.1.0'
