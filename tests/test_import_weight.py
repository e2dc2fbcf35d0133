"""Reading the registry and the specs (what `opsagent models list`, `deploy stop` and most CLI commands do) must
not pay torch's and scikit-learn's import: seconds of CPU on every command, and on every test that runs one."""

import subprocess
import sys


def test_registry_and_spec_modules_import_without_torch_or_sklearn():
    code = ("import sys; import ml_core.registry, ml_core.spec.store, ml_core.gate, ml_core.adopted; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
