"""The exercise registry (``registry``, ``inputs``, ``torch_ref``) and one module per
assignment (``psN_name``), each registering its exercises on import."""
