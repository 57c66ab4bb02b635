"""The README's front matter configures a Hugging Face Space that runs this repository as is."""

import re

import gradio
import yaml

from conftest import ROOT

COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "README.md must start with a YAML front matter block"
    return yaml.safe_load(match.group(1))


def pinned_gradio() -> str:
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    return re.search(r"^gradio==(\S+)$", requirements, re.MULTILINE).group(1)


def test_front_matter_has_every_field_a_space_needs():
    config = front_matter()
    for key in ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file", "python_version",
                "license", "short_description", "suggested_hardware"):
        assert config.get(key), key
    assert config["sdk"] == "gradio" and config["suggested_hardware"] == "cpu-basic"
    assert {config["colorFrom"], config["colorTo"]} <= COLORS
    assert len(config["short_description"]) <= 60
    assert re.fullmatch(r"3\.\d+(\.\d+)?", str(config["python_version"]))


def test_the_space_runs_app_py_with_the_pinned_gradio():
    config = front_matter()
    assert config["sdk_version"] == pinned_gradio() == gradio.__version__
    assert (ROOT / config["app_file"]).is_file()


def test_quickstart_launches_the_demo():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1]
    first_command = re.search(r"```bash\n(.+?)\s+#", quickstart).group(1)
    assert first_command == "pip install -r requirements.txt && python app.py"
