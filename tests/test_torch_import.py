"""PyTorch import: torch equivalents of zoo networks, built by hand (torchvision is not needed),
exported through ``torch.onnx`` and imported; the result must equal the zoo network layer by layer
(with BatchNorm folded into the convolution before it), and the golden forward with the module's
own weights must equal what PyTorch computes.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("onnx", reason="PyTorch import goes through ONNX: pip install '.[onnx]'")

from test_onnx_import import assert_same_layers  # noqa: E402
from workloads.errors import UserError  # noqa: E402
from workloads.forward import forward, network_params  # noqa: E402
from workloads.layers import BatchNorm, Conv  # noqa: E402
from workloads.network import Network  # noqa: E402
from workloads.torch_import import TORCH_MISSING, from_torch  # noqa: E402
from workloads.zoo import get_network  # noqa: E402

TORCH_REASON = "needs PyTorch (pip install '.[torch]')"


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason=TORCH_REASON)


def folded(network: Network) -> Network:
    """The zoo network with each BatchNorm folded into the convolution it directly follows."""
    layers, alias = [], {}
    for node in network:
        layer = node.layer
        inputs = tuple(alias.get(i, i) for i in node.inputs)
        if isinstance(layer, BatchNorm) and layers and isinstance(layers[-1], Conv) and inputs == (layers[-1].name,):
            layers[-1] = replace(layers[-1], bias=True)
            alias[layer.name] = layers[-1].name
            continue
        layers.append(replace(layer, inputs=inputs))
    return Network(network.name, network.input_shape, layers)


def randomize_batchnorm(module, seed: int = 0):
    """Non-trivial running statistics and affine parameters, so folding is really tested."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return module.eval()


def assert_forward_matches_torch(module, network, seed: int = 0, rtol=1e-4, atol=1e-5):
    import torch

    x = np.random.default_rng(seed).standard_normal(network.input_shape).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = forward(network, network_params(network, "float32"), x)[network.nodes[-1].name]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------------
# Torch models equivalent to the zoo's
# ---------------------------------------------------------------------------------------------


def lenet5(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def alexnet(nn):
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(inplace=True),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000),
    )  # fmt: skip


def conv_bn(nn, cin, cout, k, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


def resnet18(torch):
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Sequential(*conv_bn(nn, cin, cout, 3, stride), nn.ReLU(inplace=True))
            self.conv2 = nn.Sequential(*conv_bn(nn, cout, cout, 3))
            self.down = nn.Sequential(*conv_bn(nn, cin, cout, 1, stride)) if stride != 1 or cin != cout else None
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            out = self.conv2(self.conv1(x))
            shortcut = self.down(x) if self.down is not None else x
            return self.relu(out + shortcut)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(*conv_bn(nn, 3, 64, 7, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for stage, width in enumerate((64, 128, 256, 512)):
                for block in range(2):
                    blocks.append(BasicBlock(cin, width, 2 if stage and not block else 1))
                    cin = width
            self.layers = nn.Sequential(*blocks)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))

    return ResNet18()


def mobilenet_v1(nn):
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers = conv_bn(nn, 3, 32, 3, 2) + [nn.ReLU()]
    cin = 32
    for cout, stride in blocks:
        layers += conv_bn(nn, cin, cin, 3, stride, groups=cin) + [nn.ReLU()]
        layers += conv_bn(nn, cin, cout, 1) + [nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000))


def m5(nn):
    layers = []
    for cin, cout, k, stride in [(1, 32, 80, 16), (32, 32, 3, 1), (32, 64, 3, 1), (64, 64, 3, 1)]:
        layers += [nn.Conv1d(cin, cout, k, stride), nn.BatchNorm1d(cout), nn.ReLU(), nn.MaxPool1d(4)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(64, 35))


def _import(torch, module, zoo_name):
    torch.manual_seed(0)
    zoo = get_network(zoo_name)
    module = randomize_batchnorm(module)
    network = from_torch(module, torch.zeros(zoo.input_shape), name=zoo_name)
    return module, network, zoo


def test_lenet5(torch):
    module, network, zoo = _import(torch, lenet5(torch.nn), "lenet5")
    assert_same_layers(network, zoo)
    assert (network.params, network.macs) == (61_706, 416_520)
    assert network.params == sum(p.numel() for p in module.parameters())
    assert_forward_matches_torch(module, network)


@pytest.mark.slow
def test_alexnet(torch):
    module, network, zoo = _import(torch, alexnet(torch.nn), "alexnet")
    assert_same_layers(network, zoo)  # Dropout vanishes
    assert network.params == zoo.params == sum(p.numel() for p in module.parameters()) == 61_100_840


def test_resnet18(torch):
    module, network, zoo = _import(torch, resnet18(torch), "resnet18")
    expected = folded(zoo)
    assert_same_layers(network, expected)
    # Folding trades each BatchNorm's gamma and beta (2C) for a conv bias (C).
    bn_channels = sum(n.layer.num_features for n in zoo if isinstance(n.layer, BatchNorm))
    assert network.params == zoo.params - bn_channels
    assert network.macs == zoo.macs
    assert_forward_matches_torch(module, network, rtol=1e-3, atol=1e-4)


def test_mobilenet_v1(torch):
    module, network, zoo = _import(torch, mobilenet_v1(torch.nn), "mobilenet_v1")
    assert_same_layers(network, folded(zoo))
    assert network.macs == zoo.macs


def test_m5(torch):
    module, network, zoo = _import(torch, m5(torch.nn), "m5")
    assert_same_layers(network, folded(zoo))
    assert_forward_matches_torch(module, network)


def test_functional_tensor_spellings(torch):
    # F.relu, x.view(x.size(0), -1), torch.cat, +, F.max_pool2d with ceil_mode: the exporter
    # normalises them; the import must match PyTorch.
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(3, 4, 1)
            self.up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
            self.fc = nn.Linear(4 * 9 * 9, 7)

        def forward(self, x):
            y = torch.cat([F.relu(self.a(x)), F.leaky_relu(self.b(x), 0.1)], dim=1)
            y = F.max_pool2d(y, 3, 2, ceil_mode=True)
            y = F.relu6(self.up(y) + 0.0)
            y = F.avg_pool2d(y, 2, 2, padding=1, count_include_pad=False)
            return self.fc(y.view(y.size(0), -1))

    module = Net().eval()
    network = from_torch(module, torch.zeros(2, 3, 17, 17))
    assert [n.kind for n in network] == [
        "conv", "activation", "conv", "activation", "concat", "maxpool", "conv_transpose", "activation",
        "avgpool", "flatten", "linear",
    ]  # fmt: skip
    assert network.output_shape == (2, 7)
    assert network.params == sum(p.numel() for p in module.parameters())
    assert_forward_matches_torch(module, network)


def test_training_flag_is_restored(torch):
    module = lenet5(torch.nn).train()
    from_torch(module, torch.zeros(1, 1, 28, 28))
    assert module.training


def test_unsupported_torch_operator(torch):
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Sigmoid(), torch.nn.Flatten())
    with pytest.raises(UserError, match=r"torch module Sequential: 1 unsupported ONNX operator\(s\): Sigmoid x1"):
        from_torch(module, torch.zeros(1, 1, 5, 5))


def test_not_a_module(torch):
    with pytest.raises(UserError, match="needs a torch.nn.Module"):
        from_torch(lambda x: x, torch.zeros(1, 1, 5, 5))


def test_missing_torch_is_a_user_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UserError) as err:
        from_torch(object(), np.zeros((1, 1, 5, 5)))
    assert str(err.value) == TORCH_MISSING
