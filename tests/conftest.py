import os
import sys

# Tests run from a checkout: make `configs` and `dreamerv3_tf` importable without install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
