"""The ``lockstep`` command line and the renderers of traces and findings."""

from pathlib import Path

#: Where `lockstep fuzz` writes found scenarios unless ``--out`` says otherwise (here, not in
#: `lockstep.tools.fuzz`, so that the CLI shows it without importing Hypothesis).
DEFAULT_OUT = Path(".lockstep/findings")
#: Executions of dfs per generated scenario (and of random walks after it, if dfs did not
#: exhaust).
DEFAULT_BUDGET = 200
