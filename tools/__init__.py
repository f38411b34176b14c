"""The ``lockstep`` command line and the renderers of traces and findings."""
