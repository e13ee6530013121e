"""The network zoo: classic CNNs with their published shapes, parameter counts and MACs."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from workloads.errors import WorkloadError
from workloads.layers import (
    Activation,
    Add,
    BatchNorm,
    Conv,
    Flatten,
    GlobalAvgPool,
    Layer,
    Linear,
    LocalResponseNorm,
    Pool,
)
from workloads.network import Network


def lenet5() -> Network:
    """LeNet-5 on 1x28x28 (padded to 32x32 by the first conv), average pooling, FC 120-84-10."""
    return Network(
        "lenet5",
        (1, 1, 28, 28),
        [
            Conv(name="conv1", in_channels=1, out_channels=6, kernel_size=5, padding=2),
            Activation(name="relu1"),
            Pool(name="pool1", mode="avg", kernel_size=2),
            Conv(name="conv2", in_channels=6, out_channels=16, kernel_size=5),
            Activation(name="relu2"),
            Pool(name="pool2", mode="avg", kernel_size=2),
            Flatten(name="flatten"),
            Linear(name="fc1", in_features=400, out_features=120),
            Activation(name="relu3"),
            Linear(name="fc2", in_features=120, out_features=84),
            Activation(name="relu4"),
            Linear(name="fc3", in_features=84, out_features=10),
        ],
    )


def alexnet() -> Network:
    """AlexNet as in torchvision (single-tower, 64-192-384-256-256 channels), 3x224x224."""
    convs = [(3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)]
    layers: list[Layer] = []
    for i, (cin, cout, k, s, p) in enumerate(convs, start=1):
        layers += [
            Conv(name=f"conv{i}", in_channels=cin, out_channels=cout, kernel_size=k, stride=s, padding=p),
            Activation(name=f"relu{i}"),
        ]
        if i in (1, 2, 5):
            layers.append(Pool(name=f"pool{i}", mode="max", kernel_size=3, stride=2))
    return Network("alexnet", (1, 3, 224, 224), layers + _classifier(256 * 6 * 6))


def _classifier(features: int, classes: int = 1000) -> list[Layer]:
    """The FC-4096 / FC-4096 / FC-classes head of AlexNet and VGG."""
    return [
        Flatten(name="flatten"),
        Linear(name="fc6", in_features=features, out_features=4096),
        Activation(name="relu6"),
        Linear(name="fc7", in_features=4096, out_features=4096),
        Activation(name="relu7"),
        Linear(name="fc8", in_features=4096, out_features=classes),
    ]


# VGG configurations (Simonyan & Zisserman, Table 1): per stage, the convs as kernel sizes.
_VGG_STAGES = {
    "A": [[3], [3], [3, 3], [3, 3], [3, 3]],
    "B": [[3, 3], [3, 3], [3, 3], [3, 3], [3, 3]],
    "C": [[3, 3], [3, 3], [3, 3, 1], [3, 3, 1], [3, 3, 1]],
    "D": [[3, 3], [3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
    "E": [[3, 3], [3, 3], [3, 3, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3]],
}
_VGG_WIDTHS = (64, 128, 256, 512, 512)


def _vgg(name: str, config: str, lrn: bool = False) -> Network:
    layers: list[Layer] = []
    cin = 3
    for stage, (kernels, width) in enumerate(zip(_VGG_STAGES[config], _VGG_WIDTHS), start=1):
        for i, k in enumerate(kernels, start=1):
            tag = f"{stage}_{i}"
            layers += [
                Conv(name=f"conv{tag}", in_channels=cin, out_channels=width, kernel_size=k, padding=k // 2),
                Activation(name=f"relu{tag}"),
            ]
            if lrn and stage == 1 and i == 1:
                layers.append(LocalResponseNorm(name="lrn1", size=5, alpha=5e-4, beta=0.75, k=2.0))
            cin = width
        layers.append(Pool(name=f"pool{stage}", mode="max", kernel_size=2))
    return Network(name, (1, 3, 224, 224), layers + _classifier(512 * 7 * 7))


def vgg11() -> Network:
    """VGG configuration A (11 weight layers)."""
    return _vgg("vgg11", "A")


def vgg11_lrn() -> Network:
    """VGG configuration A-LRN: A with local response normalisation after the first conv."""
    return _vgg("vgg11_lrn", "A", lrn=True)


def vgg13() -> Network:
    """VGG configuration B (13 weight layers)."""
    return _vgg("vgg13", "B")


def vgg16c() -> Network:
    """VGG configuration C: 16 weight layers, the third conv of stages 3-5 is 1x1."""
    return _vgg("vgg16c", "C")


def vgg16() -> Network:
    """VGG configuration D (16 weight layers), the usual VGG16."""
    return _vgg("vgg16", "D")


def vgg19() -> Network:
    """VGG configuration E (19 weight layers)."""
    return _vgg("vgg19", "E")


def _conv_bn_relu(name: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True, **kw):
    layers: list[Layer] = [
        Conv(name=name, in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, padding=k // 2,
             groups=groups, bias=False, **kw),
        BatchNorm(name=f"{name}_bn", num_features=cout),
    ]  # fmt: skip
    if relu:
        layers.append(Activation(name=f"{name}_relu"))
    return layers


def resnet18() -> Network:
    """ResNet-18 as in torchvision: a residual DAG with BatchNorm and 1x1 projection shortcuts."""
    layers: list[Layer] = _conv_bn_relu("conv1", 3, 64, 7, stride=2)
    layers.append(Pool(name="maxpool", mode="max", kernel_size=3, stride=2, padding=1))
    cin, last = 64, "maxpool"
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            tag = f"layer{stage}_{block}"
            body = _conv_bn_relu(f"{tag}_conv1", cin, width, 3, stride=stride, inputs=(last,))
            body += _conv_bn_relu(f"{tag}_conv2", width, width, 3, relu=False)
            shortcut = last
            if stride != 1 or cin != width:
                body += _conv_bn_relu(f"{tag}_down", cin, width, 1, stride=stride, relu=False, inputs=(last,))
                shortcut = f"{tag}_down_bn"
            body += [
                Add(name=f"{tag}_add", inputs=(f"{tag}_conv2_bn", shortcut)),
                Activation(name=f"{tag}_relu"),
            ]
            layers += body
            cin, last = width, f"{tag}_relu"
    layers += [
        GlobalAvgPool(name="avgpool"),
        Flatten(name="flatten"),
        Linear(name="fc", in_features=512, out_features=1000),
    ]
    return Network("resnet18", (1, 3, 224, 224), layers)


def mobilenet_v1() -> Network:
    """MobileNet v1 (1.0, 224): depthwise 3x3 + pointwise 1x1 blocks with BatchNorm."""
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    layers = _conv_bn_relu("conv0", 3, 32, 3, stride=2)
    cin = 32
    for i, (cout, stride) in enumerate(blocks, start=1):
        layers += _conv_bn_relu(f"dw{i}", cin, cin, 3, stride=stride, groups=cin)
        layers += _conv_bn_relu(f"pw{i}", cin, cout, 1)
        cin = cout
    layers += [
        GlobalAvgPool(name="avgpool"),
        Flatten(name="flatten"),
        Linear(name="fc", in_features=1024, out_features=1000),
    ]
    return Network("mobilenet_v1", (1, 3, 224, 224), layers)


def m5() -> Network:
    """M5 1-D CNN on raw 8 kHz audio (1 s), 35 keyword classes, as in the torchaudio tutorial."""
    layers: list[Layer] = []
    specs = [(1, 32, 80, 16), (32, 32, 3, 1), (32, 64, 3, 1), (64, 64, 3, 1)]
    for i, (cin, cout, k, stride) in enumerate(specs, start=1):
        layers += [
            Conv(name=f"conv{i}", in_channels=cin, out_channels=cout, kernel_size=(k,), stride=stride),
            BatchNorm(name=f"bn{i}", num_features=cout),
            Activation(name=f"relu{i}"),
            Pool(name=f"pool{i}", mode="max", kernel_size=(4,)),
        ]
    layers += [GlobalAvgPool(name="avgpool"), Flatten(name="flatten"), Linear(name="fc", in_features=64, out_features=35)]
    return Network("m5", (1, 1, 8000), layers)


ZOO: dict[str, Callable[[], Network]] = {
    f.__name__: f
    for f in (lenet5, alexnet, vgg11, vgg11_lrn, vgg13, vgg16c, vgg16, vgg19, resnet18, mobilenet_v1, m5)
}


def describe(name: str) -> str:
    """One-line description of the zoo network ``name``: the summary line of its builder's docstring."""
    return inspect.getdoc(ZOO[name]).partition("\n")[0]


def get_network(name: str) -> Network:
    """Build a zoo network by name; unknown names suggest the closest ones."""
    try:
        return ZOO[name]()
    except KeyError:
        close = difflib.get_close_matches(name, ZOO, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else f"known networks: {', '.join(ZOO)}"
        raise WorkloadError(f"unknown network {name!r}; {hint} (run `sim list`)") from None
