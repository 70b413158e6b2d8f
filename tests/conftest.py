import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# Test-only helpers (e.g. the QuTiP reference) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
