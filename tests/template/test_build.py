"""`sam build` ships bytecode: every function and the layer are built by the project's Makefiles
(layers/billing/Makefile, functions/Makefile), which compile for Python 3.13. A plain `sam build`
takes the same path, so what is deployed never compiles at cold start (Lambda's /opt and
/var/task are read-only)."""

from __future__ import annotations

import re

from devtools.template import ROOT, load_template, resources


def test_every_function_is_built_by_the_functions_makefile() -> None:
    # Given every function of the template
    functions = resources("AWS::Serverless::Function")
    # Then sam build runs functions/Makefile for it (its files and their bytecode)
    for name, function in functions.items():
        metadata = function.get("Metadata", {})
        assert metadata.get("BuildMethod") == "makefile", name
        assert metadata.get("ContextPath") == "functions", name
        assert (ROOT / function["Properties"]["CodeUri"]).parent == ROOT / "functions", name
    assert "build-%:" in (ROOT / "functions" / "Makefile").read_text()


def test_the_layer_is_built_by_its_makefile_for_the_functions_runtime() -> None:
    # Given the billing layer and the functions' runtime
    (layer,) = resources("AWS::Serverless::LayerVersion").values()
    runtime = load_template()["Globals"]["Function"]["Runtime"]
    makefile = (ROOT / layer["Properties"]["ContentUri"] / "Makefile").read_text()
    # Then sam build runs its Makefile, which installs and compiles for that very Python
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
    version = runtime.removeprefix("python")
    assert "build-BillingLayer:" in makefile
    assert f"--python-version {version}" in makefile and f"--abi cp{version.replace('.', '')}" in makefile
    assert re.search(r"compileall .*--invalidation-mode unchecked-hash", makefile)
    assert f"sys.version_info[:2] == ({version.replace('.', ', ')})" in makefile


def test_the_layer_keeps_babel_data_for_every_language_customers_are_written_to() -> None:
    # Given the locales the customer page and e-mails format amounts and dates in
    from billing.customer_page.formatting import LOCALES

    # Then the layer's build keeps Babel's data for each of their languages (it strips the rest)
    makefile = (ROOT / "layers" / "billing" / "Makefile").read_text()
    (kept,) = re.findall(r"^BABEL_LOCALES = (.+)$", makefile, re.MULTILINE)
    assert {locale.split("_")[0] for locale in LOCALES.values()} <= set(kept.split())
