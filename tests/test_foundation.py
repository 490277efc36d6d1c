"""Errors, settings, the public namespace and the cost of `import invoiceai`."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import invoiceai
from invoiceai import errors
from invoiceai.config import DEFAULT_MODEL, Settings, default_cache_dir
from invoiceai.errors import ConfigurationError, InvoiceAIError

ROOT = Path(__file__).resolve().parent.parent

# --- errors ----------------------------------------------------------------------------------


def test_every_error_descends_from_the_root_and_is_exported() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == errors.__name__
    ]
    assert len(classes) >= 25
    for cls in classes:
        assert issubclass(cls, InvoiceAIError)
        assert getattr(invoiceai, cls.__name__) is cls
        assert cls.__name__ in errors.__doc__, f"{cls.__name__} missing from the tree in the module docstring"


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (errors.WrongPasswordError, errors.EncryptedDocumentError),
        (errors.EncryptedDocumentError, errors.InputError),
        (errors.DecompressionBombError, errors.DocumentTooLargeError),
        (errors.UnsafeURLError, errors.FetchError),
        (errors.SpendLimitError, errors.RateLimitError),
        (errors.RateLimitError, errors.BackendError),
        (errors.MissingFieldsError, errors.EInvoiceError),
        (errors.MissingDependencyError, errors.ConfigurationError),
        (errors.UnsupportedSchemaError, errors.ConfigurationError),
    ],
)
def test_error_tree(child: type[Exception], parent: type[Exception]) -> None:
    assert issubclass(child, parent)


def test_errors_carry_context_and_survive_pickling() -> None:
    cause = ValueError("pdfium: data format error")
    error = errors.CorruptDocumentError(
        "The PDF is damaged; re-export it.", document_id="ab" * 32, page=3, attempts=1, request_id="req_1"
    )
    with pytest.raises(errors.CorruptDocumentError) as info:
        raise error from cause
    assert info.value.__cause__ is cause
    assert error.context() == {"document_id": "ab" * 32, "page": 3, "attempts": 1, "request_id": "req_1"}
    assert str(error) == (
        "The PDF is damaged; re-export it. [document_id=abababababab, page=3, attempts=1, request_id=req_1]"
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is errors.CorruptDocumentError
    assert clone.context() == error.context()
    assert str(clone) == str(error)
    missing = pickle.loads(pickle.dumps(errors.MissingFieldsError("missing", fields=["BT-1 invoice_number"])))
    assert missing.fields == ["BT-1 invoice_number"]
    extra = pickle.loads(pickle.dumps(errors.MissingDependencyError("needs heic", extra="heic")))
    assert extra.extra == "heic"


def test_secrets_are_redacted_from_messages() -> None:
    key = "sk-ant-api03-" + "x" * 40
    error = errors.AuthenticationError(f"bad key {key}; headers x-api-key: {key} Authorization: Bearer abc.def")
    for text in (str(error), repr(error), error.message):
        assert key not in text
        assert "abc.def" not in text
    assert errors.redact("nothing secret") == "nothing secret"


# --- settings --------------------------------------------------------------------------------


def test_settings_precedence_argument_then_environment_then_default() -> None:
    env = {"INVOICEAI_MODEL": "claude-haiku-4-5", "INVOICEAI_CONCURRENCY": "3", "INVOICEAI_ALLOW_PRIVATE_URLS": "yes"}
    assert Settings.load(env={}).model == DEFAULT_MODEL
    from_env = Settings.load(env=env)
    assert (from_env.model, from_env.concurrency, from_env.allow_private_urls) == ("claude-haiku-4-5", 3, True)
    explicit = Settings.load(env=env, model="claude-opus-5", concurrency=None)
    assert (explicit.model, explicit.concurrency) == ("claude-opus-5", 3)


def test_settings_are_frozen_and_replace_returns_a_copy() -> None:
    settings = Settings.load(env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.model = "x"  # type: ignore[misc]
    changed = settings.replace(max_attempts=9, model=None)
    assert (changed.max_attempts, settings.max_attempts, changed.model) == (9, 8, settings.model)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INVOICEAI_CONCURRENCY": "many"}, "INVOICEAI_CONCURRENCY"),
        ({"INVOICEAI_ALLOW_PRIVATE_URLS": "perhaps"}, "INVOICEAI_ALLOW_PRIVATE_URLS"),
        ({"INVOICEAI_MAX_ATTEMPTS": "0"}, "max_attempts"),
    ],
)
def test_bad_settings_raise_a_configuration_error_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(env=env)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="modle"):
        Settings.load(env={}, modle="x")


def test_cache_dir_follows_xdg(tmp_path: Path) -> None:
    if sys.platform.startswith("linux"):
        assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "invoiceai"
        assert Settings.load(env={"XDG_CACHE_HOME": str(tmp_path)}).cache_dir == tmp_path / "invoiceai"
    assert Settings.load(env={"INVOICEAI_CACHE_DIR": str(tmp_path / "c")}).cache_dir == tmp_path / "c"


def test_default_model_is_not_deprecated() -> None:
    from anthropic._data import DEPRECATED_MODELS

    assert DEFAULT_MODEL not in DEPRECATED_MODELS


# --- namespace and import cost ---------------------------------------------------------------


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert invoiceai.__all__ == sorted(invoiceai.__all__)
    for name in invoiceai.__all__:
        assert getattr(invoiceai, name) is not None, name
    with pytest.raises(AttributeError):
        invoiceai.NoSuchThing  # noqa: B018


HEAVY = ("anthropic", "pypdfium2", "PIL", "pydantic", "httpx2", "lxml", "redis", "tenacity")


def test_import_invoiceai_loads_no_heavy_dependency() -> None:
    code = f"import sys, invoiceai; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_py_typed_is_shipped() -> None:
    assert (Path(invoiceai.__file__).parent / "py.typed").is_file()
