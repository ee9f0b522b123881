"""Build hook: the example graphs (``examples/*.py`` and ``*.json``) go into the wheel as
``graphmodel/_examples/``, where ``graphmodel.examples`` and ``graphmodel examples`` find them.
Everything else about the package is declared in ``pyproject.toml``."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithExamples(build_py):
    def run(self):
        super().run()
        source = Path(__file__).resolve().parent / "examples"
        target = Path(self.build_lib) / "graphmodel" / "_examples"
        target.mkdir(parents=True, exist_ok=True)
        for f in sorted(source.glob("*.py")) + sorted(source.glob("*.json")):
            if not f.name.startswith("_"):
                self.copy_file(str(f), str(target / f.name))


setup(cmdclass={"build_py": BuildWithExamples})
