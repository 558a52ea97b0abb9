"""iwo-tf: Iterative-Winners-Out networks for weakly supervised temporal action localization."""
from setuptools import find_packages, setup

setup(
    name="iwo-tf",
    version="0.1.0",
    description=(
        "TensorFlow/Keras implementation of the Iterative-Winners-Out network "
        "(Zeng et al., IEEE TIP 2019) for weakly supervised temporal action localization."
    ),
    packages=find_packages(include=["iwo_tf", "iwo_tf.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow==2.21.*",
        "tensorboard==2.21.*",  # tf.summary needs it; TF 2.21 no longer pulls it in
        "keras>=3.12,<4",
        "absl-py>=2.1",
        "numpy>=1.26",
        "ml-collections==1.1.*",
        "matplotlib>=3.8",
        "tensorflow-serving-api==2.21.*",
    ],
    extras_require={"test": ["pytest>=8"]},
)
