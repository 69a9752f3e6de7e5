"""The published numbers the tables compare against (the paper's tables, timm's and torchvision's
ImageNet top-1), each row with its source. Shipped as package data, so an installed suite finds them."""
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent
