"""pytest configuration shared by the whole suite.

Tests import helpers from each other as ``tests.<module>`` (``tests.engine_reference``,
``tests.test_program``, ...). ``python3 -m pytest`` puts the working directory on ``sys.path``,
a bare ``pytest`` does not, so the repository root is added here and both work from it.

``tests/rtl_benches`` holds cocotb modules: they run inside the HDL simulator, started by the RTL
tests through ``cocotb_tools.runner``, and are never collected by pytest itself.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

collect_ignore = ["rtl_benches"]
