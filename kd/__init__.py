"""kd: a multimodal teacher distilled into a small, fast student, on real emoji data.

Start with `python -m kd --help`; the modules are named after what they hold
(data, models, losses, distill, train, checkpoint, evaluate, infer).
"""

__version__ = "0.1.0"
