"""iommufd-lockstep: find locking bugs in the iommufd object model by systematic interleaving.

Installed, the repository's folders are the subpackages of this one package:
`lockstep.scheduler` (the runtime and the explorer), `lockstep.actors` (the iommufd model),
`lockstep.scenarios` and `lockstep.tools` (the CLI and the renderers). The names below are
the Python API, as `lockstep.scheduler` exports them.
"""

from lockstep.scheduler import *  # noqa: F403
from lockstep.scheduler import __all__ as __all__
