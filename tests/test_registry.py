"""Plug-ins: a model registered through the ``sambench.models`` entry-point group."""

from importlib import metadata

from sambench.models import MODELS, build_model
from sambench.registry import Registry


def test_entry_point_models_are_listed_and_built(monkeypatch):
    ep = metadata.EntryPoint(name="disk-plugin", value="tests_plugin_target:build", group="sambench.models")

    def fake_entry_points(group=None):
        return [ep] if group == "sambench.models" else []

    import sys
    import types

    module = types.ModuleType("tests_plugin_target")
    module.build = lambda checkpoint=None, device=None, download=False, **kw: build_model("oracle")
    module.build.__doc__ = "a plug-in model for the test"
    monkeypatch.setitem(sys.modules, "tests_plugin_target", module)
    monkeypatch.setattr("sambench.registry.metadata.entry_points", fake_entry_points)
    fresh = Registry("model", entry_point_group="sambench.models")
    assert "disk-plugin" in fresh.names() and fresh.describe()["disk-plugin"] == "a plug-in model for the test"
    assert fresh.get("disk-plugin")().name == "oracle"
    assert "oracle" in MODELS.names()
