"""What measuring (benchmarks/) and training (reproduce/training/) both need and neither owns.

Atomic files and the repository's paths (`common.files`), the device and environment a number
was made on (`common.environment`), autocast and its dtype names (`common.precision`) and how
durations are written (`common.durations`). Imports only torch and the standard library.
"""
