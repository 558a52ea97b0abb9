"""iwo-tf: Iterative-Winners-Out networks for weakly supervised temporal action localization.

`pip install .` installs the library (`iwo_tf`), the experiment configs (`configs`), the export tools
(`export`) and `train.py` as the module `train`, plus one console script per command-line tool, so an
installed copy runs without the source tree: `iwo-train --dataset=synthetic`.
"""
from setuptools import find_packages, setup

setup(
    name="iwo-tf",
    version="0.2.0",
    description=(
        "TensorFlow/Keras implementation of the Iterative-Winners-Out network "
        "(Zeng et al., IEEE TIP 2019) for weakly supervised temporal action localization."
    ),
    packages=find_packages(include=["iwo_tf", "iwo_tf.*", "configs", "export"]),
    py_modules=["train"],
    package_data={"export": ["README.md"]},
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
    entry_points={
        "console_scripts": [
            "iwo-train=train:run",
            "iwo-convert=iwo_tf.data.convert:run",
            "iwo-synthetic=iwo_tf.data.synthetic.__main__:run",
            "iwo-evaluate=iwo_tf.evaluate:run",
            "iwo-diagnose=iwo_tf.diagnose:run",
            "iwo-visualize=iwo_tf.visualize:run",
            "iwo-ablations=iwo_tf.ablations:run",
            "iwo-export=export.export_saved_model:run",
            "iwo-localize-features=export.localize_features:run",
            "iwo-client-grpc=export.client_grpc:run",
            "iwo-client-rest=export.client_rest:run",
        ]
    },
)
