import sys
from pathlib import Path

# Run against this checkout's package, whether or not it is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
