"""What runs in a learner's kernel and also judges for the trusted grader: the check API
(``api``), every learner-facing sentence (``messages``), the comparison (``compare``), reading
check declarations (``declarations``) and what each notebook cell is (``cells``)."""
