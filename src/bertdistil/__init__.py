"""bertdistil: distil BERT-family encoders into smaller students (Sanh et al. 2019, arXiv:1910.01108).

Importing the package forbids every model/dataset hub download: all inputs are local
directories and files (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1, HF_DATASETS_OFFLINE=1).
"""
import os

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
