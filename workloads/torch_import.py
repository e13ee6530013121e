"""Import a PyTorch ``nn.Module`` into the layer IR, through ONNX.

:func:`from_torch` exports the module with the TorchScript-based ``torch.onnx.export``
(``dynamo=False``) to a temporary file and imports that with :mod:`workloads.onnx_import`.

Why ONNX rather than ``torch.fx``: the tracer records whatever the module actually runs on the
example input (Python control flow included), and the ONNX exporter already normalises the many
spellings of one operation (``nn.ReLU``, ``F.relu``, ``x.relu()``, ``torch.flatten``,
``x.view(x.size(0), -1)``, ``+``, ``torch.add``, ...) to a couple of dozen operator types that
the ONNX importer maps and tests against onnxruntime. ``torch.fx`` symbolic tracing fails on
data-dependent control flow and would need a second mapping of every module, functional call and
tensor method. The TorchScript exporter needs no package beyond ``torch`` and ``onnx``; the newer
``dynamo=True`` exporter also needs ``onnxscript``.

Exported in eval mode, BatchNorm arrives folded into the preceding convolution (the exporter
folds it; the importer would too), so a Conv + BatchNorm pair becomes one Conv with a bias.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

from workloads.errors import UserError
from workloads.onnx_import import ImportedNetwork, from_onnx, require_onnx

__all__ = ["TORCH_MISSING", "from_torch"]

TORCH_MISSING = "PyTorch import needs torch: pip install 'systolic-toolkit[torch]'"


def _require_torch():
    try:
        import torch
    except ImportError:
        raise UserError(TORCH_MISSING) from None
    return torch


def from_torch(
    module,
    example_input,
    *,
    name: str | None = None,
    skip_unsupported: bool = False,
    opset: int = 17,
) -> ImportedNetwork:
    """Import ``module`` as it runs on ``example_input``.

    Parameters
    ----------
    module : torch.nn.Module
        Exported in eval mode (its training flag is restored afterwards).
    example_input : torch.Tensor or array-like
        One input of the shape to import, batch first: ``(N, C, *spatial)``.
    name : str, optional
        Network name; defaults to the module's class name in lower case.
    skip_unsupported : bool
        As for :func:`workloads.onnx_import.load_onnx`.
    opset : int
        ONNX opset to export to.

    Returns
    -------
    ImportedNetwork
        With the module's float32 weights in ``weights``.

    Raises
    ------
    UserError
        torch or onnx is not installed, the export fails, or the model uses operators that have
        no layer equivalent.
    """
    torch = _require_torch()
    onnx = require_onnx()
    if not isinstance(module, torch.nn.Module):
        raise UserError(f"from_torch needs a torch.nn.Module, not {type(module).__name__}")
    x = example_input if isinstance(example_input, torch.Tensor) else torch.as_tensor(example_input)
    if not x.is_floating_point():
        x = x.float()
    name = name or type(module).__name__.lower()
    was_training = module.training
    module.eval()
    try:
        with tempfile.TemporaryDirectory(prefix="systolic-torch-") as tmp:
            path = Path(tmp) / f"{name}.onnx"
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
                    torch.onnx.export(
                        module, (x,), str(path), dynamo=False, opset_version=opset, input_names=["input"],
                        output_names=["output"], do_constant_folding=True,
                    )  # fmt: skip
            except Exception as err:
                text = " ".join(str(err).split())[:300]
                raise UserError(f"torch.onnx.export failed on {type(module).__name__}: {text}") from None
            model = onnx.load(str(path))
    finally:
        module.train(was_training)
    source = f"torch module {type(module).__name__}"
    return from_onnx(model, name=name, skip_unsupported=skip_unsupported, source=source)
