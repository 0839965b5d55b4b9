"""What the paper claims, what the suite measures for it, and how results are rendered.

``paper`` holds the paper's figures as data (the only place they live); ``table4`` and
``tables`` measure and render; ``train`` and ``launch`` run training jobs through submitit.
"""
