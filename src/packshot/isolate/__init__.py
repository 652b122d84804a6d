"""Product isolation: cut out the object a text, box or point prompt names."""

from packshot.isolate.api import Isolation, isolate

__all__ = ["Isolation", "isolate"]
