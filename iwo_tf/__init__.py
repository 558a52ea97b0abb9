"""iwo-tf: the Iterative-Winners-Out network (Zeng et al., IEEE TIP 2019) in TensorFlow/Keras.

Data flows through the sub-packages in this order:
``data`` -> ``model`` -> ``winners_out`` -> ``evaluation`` -> ``training`` / ``serving``.
"""

__version__ = "0.1.0"
