from setuptools import setup

setup(
    name="demo",
    install_requires=["requests>=2", 'click'],
    extras_require={"test": ["pytest", "hypothesis"], "dev": ["ruff"]},
    tests_require=["nose"],
)
