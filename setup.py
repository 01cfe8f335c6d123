"""tb-cnnviz: a PyTorch training callback and a TensorBoard plugin that show what CNN layers learn."""

from setuptools import find_packages, setup

setup(
    name="tb-cnnviz",
    version="0.1.0",
    description="See what each layer of a CNN learns during training, in a TensorBoard tab",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The tab's files live in frontend/ at the top of the repository and install as tb_cnnviz/frontend.
    packages=[*find_packages(include=["tb_cnnviz", "tb_cnnviz.*"]), "tb_cnnviz.frontend"],
    package_dir={"tb_cnnviz.frontend": "frontend"},
    # The report's page template and style (tb-cnnviz report) are files too, kept readable.
    package_data={"tb_cnnviz.frontend": ["*.js", "*.css", "kinds/*.js"], "tb_cnnviz.report": ["*.html", "*.css"]},
    # google-crc32c: the event files' CRC32C in C; TensorBoard computes it in pure Python without TensorFlow.
    install_requires=[
        "torch",
        "torchvision",
        "tensorboard>=2.12",
        "numpy",
        "pillow",
        "protobuf",
        "tqdm",
        "google-crc32c>=1.5",
        # Channel alignment across runs: an optimal one-to-one assignment (linear_sum_assignment).
        "scipy>=1.9",
    ],
    # Lightning is optional: only tb_cnnviz.integrations.lightning imports it.
    extras_require={"lightning": ["lightning>=2.0"], "test": ["pytest", "playwright", "lightning>=2.0", "ruff"]},
    entry_points={
        "tensorboard_plugins": ["cnnviz = tb_cnnviz.tensorboard.plugin:CNNVizLoader"],
        "console_scripts": ["tb-cnnviz = tb_cnnviz.cli.main:main"],
    },
)
