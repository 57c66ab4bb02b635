"""The teacher and the students: pretrained backbones, the model registry, checkpoints, ONNX export."""
