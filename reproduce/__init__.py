"""What the paper claims, what the suite measures for it, and how results are rendered.

``paper`` holds the paper's figures as data (the only place they live); ``tables`` says what
each table holds and counts or measures its rows; ``claims`` checks every claim once;
``render`` formats everything; ``training`` runs training recipes through submitit
(``launch``); ``commands`` is the command line (``python -m reproduce``).
"""
