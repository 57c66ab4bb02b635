"""kd: a multimodal teacher distilled into a small, fast student, on real emoji data.

Start with `python -m kd --help`. The subpackages are layers, each importing only from
those before it: data, models, training, study, serving. Under them all sit config,
layout and cache; over them all, cli.
"""

__version__ = "0.1.0"
