"""The NVML double keeps pynvml's contract: same function signatures, constants and error classes."""

import inspect
import re

import pynvml
import pytest

from . import nvml_double
from .nvml_double import CONSTANTS, FakeNvml

FUNCTIONS = [name for name, member in inspect.getmembers(FakeNvml, inspect.isfunction)
             if name.startswith("nvml")]


def test_the_double_covers_the_functions_the_agent_calls():
    source = inspect.getsource(__import__("nim_launcher.agent.nvml", fromlist=["x"]))
    called = {name for name in re.findall(r"\bnv(?:ml)?\.(nvml\w+)", source) if callable(getattr(pynvml, name))}
    called |= {"nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetUUID"}

    assert called <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_has_pynvmls_parameters(name):
    real = list(inspect.signature(getattr(pynvml, name)).parameters)
    double = list(inspect.signature(getattr(FakeNvml(), name)).parameters)

    assert double == real


def test_constants_have_pynvmls_values():
    assert {name: getattr(pynvml, name) for name in CONSTANTS} == CONSTANTS


def test_error_classes_match_pynvmls_codes():
    for name in dir(nvml_double):
        if name.startswith("NVMLError_"):
            assert getattr(nvml_double, name)().value == getattr(pynvml, name)().value
    assert isinstance(nvml_double.NVMLError(nvml_double.NVML_ERROR_NOT_SUPPORTED), nvml_double.NVMLError_NotSupported)
