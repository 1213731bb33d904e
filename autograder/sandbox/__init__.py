"""Where learner code runs: the sandbox command (``command``), the warm pool of zygotes
(``pool``), the result channel (``channel``), and the one program bound into the sandbox
(``learner_runner``, standard library and numpy only)."""
