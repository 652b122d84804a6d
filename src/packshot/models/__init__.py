"""Models: the registry of weights (what, where from, verified cache) and ONNX sessions.

Code never opens a weights path itself: it asks for a model by name, e.g.
``session("u2net")`` or ``model_path("coco-names")``, and reads the model's conventions
from ``get_spec(name).io``.
"""

from packshot.models.registry import (
    CATALOG_ENV,
    MIRROR_ENV,
    MODELS_DIR_ENV,
    OVERRIDE_ENV_PREFIX,
    DerivedSource,
    MirrorSource,
    ModelSpec,
    NpmSource,
    PathSource,
    Progress,
    PypiSource,
    Source,
    UrlSource,
    default_model,
    get_spec,
    install,
    installed_path,
    is_installed,
    list_specs,
    model_path,
    models_dir,
    override_env_var,
)
from packshot.models.runtime import (
    THREADS_ENV,
    clear_sessions,
    session,
    session_for_path,
    thread_count,
)

__all__ = [
    "CATALOG_ENV",
    "MIRROR_ENV",
    "MODELS_DIR_ENV",
    "OVERRIDE_ENV_PREFIX",
    "THREADS_ENV",
    "DerivedSource",
    "MirrorSource",
    "ModelSpec",
    "NpmSource",
    "PathSource",
    "Progress",
    "PypiSource",
    "Source",
    "UrlSource",
    "clear_sessions",
    "default_model",
    "get_spec",
    "install",
    "installed_path",
    "is_installed",
    "list_specs",
    "model_path",
    "models_dir",
    "override_env_var",
    "session",
    "session_for_path",
    "thread_count",
]
