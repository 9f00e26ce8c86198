"""What the generated-project gate proves beyond the steps every variant shares.

One module per row of cookiecutter.json's `_variant_table`, each defining `PROOFS`
(a `VariantProofs` named after its row); `registered()` finds them, so adding a
variant adds a module here and nothing to the shared test.
"""

from __future__ import annotations

import importlib
import pkgutil

from gate.contract import VariantProofs


def registered() -> dict[str, VariantProofs]:
    """Every variant's proofs, by the variant name they were written for."""
    found: dict[str, VariantProofs] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        proofs = getattr(module, "PROOFS", None)
        if not isinstance(proofs, VariantProofs):
            continue
        assert proofs.variant not in found, (
            f"two modules of tests/gate register proofs for {proofs.variant!r}"
        )
        found[proofs.variant] = proofs
    return found
