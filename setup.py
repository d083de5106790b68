"""Install keras_resnet (distribution name ``keras-resnet-family``; import name ``keras_resnet``)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements() -> list[str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    # "keras-resnet" on PyPI is an unrelated project.
    name="keras-resnet-family",
    version="0.1.0",
    description="The ResNet family (He et al. 2016) for Keras 3: build, train, export to LiteRT and TF Serving.",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_resnet", "keras_resnet.*", "export", "export.*"]),
    package_data={"keras_resnet": ["data/*.tsv", "*.pyi", "py.typed"]},  # stubs: PEP 561
    install_requires=requirements(),
    license="Apache-2.0",
)
