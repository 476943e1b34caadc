"""Small core shared by every stage: parameter metadata, validation helpers, the stage interface and registry,
the maths helpers stage formulas use, and the result schema. Imports nothing from the rest of :mod:`sim`."""

#: Package version (the single definition; pyproject.toml reads it).
__version__ = "0.1.0"
