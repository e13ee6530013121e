"""Network zoo: parameter counts and MACs against published figures, shapes against PyTorch."""

from __future__ import annotations

from collections import OrderedDict

import pytest

from workloads.errors import WorkloadError
from workloads.layers import Conv, Linear
from workloads.zoo import ZOO, get_network

TORCH_REASON = "PyTorch not installed: pip install torch==2.13.0"

# (params, MACs at batch 1); None where no MAC figure is published (checked by hand below).
PUBLISHED = {
    "lenet5": (61_706, 416_520),
    "alexnet": (61_100_840, 714_188_480),  # torchvision
    "vgg11": (132_863_336, None),
    "vgg11_lrn": (132_863_336, None),  # LRN has no parameters
    "vgg13": (133_047_848, None),
    "vgg16c": (133_638_952, None),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg19": (143_667_240, None),
    "resnet18": (11_689_512, 1_814_073_344),  # torchvision params; fvcore MACs
    "mobilenet_v1": (4_231_976, 568_740_352),  # Keras trainable params; paper: 569M mult-adds
    "m5": (26_915, None),  # torchaudio speech-command tutorial
}


def test_zoo_names():
    assert list(ZOO) == list(PUBLISHED)


@pytest.fixture(scope="module")
def nets():
    return {name: build() for name, build in ZOO.items()}


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_params_and_macs(nets, name):
    params, macs = PUBLISHED[name]
    assert nets[name].params == params
    if macs is not None:
        assert nets[name].macs == macs


def test_mobilenet_macs_round_to_the_papers_569m(nets):
    assert round(nets["mobilenet_v1"].macs / 1e6) == 569


# VGG configurations as printed in Simonyan & Zisserman, Table 1 ("conv<k>-<channels>", M = maxpool).
VGG_TABLE = {
    "vgg11": "conv3-64 M conv3-128 M conv3-256 conv3-256 M conv3-512 conv3-512 M conv3-512 conv3-512 M",
    "vgg11_lrn": "conv3-64 M conv3-128 M conv3-256 conv3-256 M conv3-512 conv3-512 M conv3-512 conv3-512 M",
    "vgg13": "conv3-64 conv3-64 M conv3-128 conv3-128 M conv3-256 conv3-256 M conv3-512 conv3-512 M "
    "conv3-512 conv3-512 M",
    "vgg16c": "conv3-64 conv3-64 M conv3-128 conv3-128 M conv3-256 conv3-256 conv1-256 M "
    "conv3-512 conv3-512 conv1-512 M conv3-512 conv3-512 conv1-512 M",
    "vgg16": "conv3-64 conv3-64 M conv3-128 conv3-128 M conv3-256 conv3-256 conv3-256 M "
    "conv3-512 conv3-512 conv3-512 M conv3-512 conv3-512 conv3-512 M",
    "vgg19": "conv3-64 conv3-64 M conv3-128 conv3-128 M conv3-256 conv3-256 conv3-256 conv3-256 M "
    "conv3-512 conv3-512 conv3-512 conv3-512 M conv3-512 conv3-512 conv3-512 conv3-512 M",
}


def vgg_by_hand(table: str) -> tuple[int, int, int]:
    """(params, MACs, weight layers) of a VGG column at 224x224x3 with the FC-4096-4096-1000 head."""
    size, cin, params, macs, weight_layers = 224, 3, 0, 0, 0
    for token in table.split():
        if token == "M":
            size //= 2
            continue
        k, cout = (int(x) for x in token.removeprefix("conv").split("-"))
        params += k * k * cin * cout + cout
        macs += size * size * cout * k * k * cin  # 'same' padding keeps the size
        cin, weight_layers = cout, weight_layers + 1
    for fin, fout in ((cin * size * size, 4096), (4096, 4096), (4096, 1000)):
        params += fin * fout + fout
        macs += fin * fout
        weight_layers += 1
    return params, macs, weight_layers


@pytest.mark.parametrize("name", VGG_TABLE)
def test_vgg_by_hand(nets, name):
    params, macs, weight_layers = vgg_by_hand(VGG_TABLE[name])
    net = nets[name]
    assert (net.params, net.macs) == (params, macs)
    assert sum(isinstance(n.layer, (Conv, Linear)) for n in net) == weight_layers
    assert net["pool5"].out_shape == (1, 512, 7, 7)


def test_vgg16_hand_computation_matches_published_figures():
    assert vgg_by_hand(VGG_TABLE["vgg16"]) == (138_357_544, 15_470_264_320, 16)


def test_vgg11_lrn_adds_one_lrn_after_the_first_conv(nets):
    plain, lrn = [n.name for n in nets["vgg11"]], [n.name for n in nets["vgg11_lrn"]]
    assert lrn == plain[:2] + ["lrn1"] + plain[2:]
    assert nets["vgg11_lrn"].macs == nets["vgg11"].macs


def test_lenet5_by_hand(nets):
    net = nets["lenet5"]
    assert net["conv1"].out_shape == (1, 6, 28, 28)  # 28x28 padded to 32 by the first conv
    assert net["pool2"].out_shape == (1, 16, 5, 5)
    convs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25
    fcs = 400 * 120 + 120 * 84 + 84 * 10
    assert net.macs == convs + fcs == 416_520


def test_m5_by_hand(nets):
    # 8000 samples: conv 80/16 -> 496, pool 4 -> 124, conv 3 -> 122, pool -> 30, conv -> 28,
    # pool -> 7, conv -> 5, pool -> 1
    net = nets["m5"]
    assert [net[f"pool{i}"].out_shape for i in range(1, 5)] == [(1, 32, 124), (1, 32, 30), (1, 64, 7), (1, 64, 1)]
    macs = 496 * 32 * 80 + 122 * 32 * 32 * 3 + 28 * 64 * 32 * 3 + 5 * 64 * 64 * 3 + 64 * 35
    assert net.macs == macs
    assert net.output_shape == (1, 35)


def test_resnet18_is_a_residual_dag(nets):
    net = nets["resnet18"]
    assert net["layer1_0_add"].inputs == ("layer1_0_conv2_bn", "maxpool")  # identity shortcut
    assert net["layer2_0_add"].inputs == ("layer2_0_conv2_bn", "layer2_0_down_bn")  # 1x1/2 projection
    assert net["layer2_0_down"].layer.kernel_size == (1, 1)
    assert net["layer4_1_relu"].out_shape == (1, 512, 7, 7)
    # 18 = 17 convs on the main path + fc; the 3 projection convs are not counted
    assert sum(isinstance(n.layer, (Conv, Linear)) and not n.name.endswith("_down") for n in net) == 18


def test_mobilenet_depthwise_and_pointwise(nets):
    net = nets["mobilenet_v1"]
    dw, pw = net["dw13"].layer, net["pw13"].layer
    assert dw.groups == dw.in_channels == 1024 and dw.kernel_size == (3, 3)
    assert pw.kernel_size == (1, 1) and pw.groups == 1
    assert net["pw13_relu"].out_shape == (1, 1024, 7, 7)


@pytest.mark.parametrize(
    "name, layer, rf",
    [
        # Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks" (Distill 2019)
        ("alexnet", "pool5", 195),
        ("vgg16", "conv5_3", 196),
        ("vgg16", "pool5", 212),
        ("resnet18", "layer1_0_conv1", 7 + 2 * 2 + 2 * 4),
        ("lenet5", "conv2", 5 + 1 + 4 * 2),
    ],
)
def test_published_receptive_fields(nets, name, layer, rf):
    assert nets[name][layer].receptive_field == (rf, rf)


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("vgg17", "did you mean vgg19, vgg16, vgg13"),
        ("resnet", "did you mean resnet18"),
        ("mobilenet", "mobilenet_v1"),
        ("xyz", "known networks: lenet5, alexnet"),
    ],
)
def test_unknown_network_suggests_closest(name, suggestion):
    with pytest.raises(WorkloadError, match=rf"unknown network '{name}'; .*{suggestion}"):
        get_network(name)


# ---------------------------------------------------------------------------------------------
# PyTorch equivalents (written here from the papers / torchvision, not from the zoo code).
# Modules carry the zoo's layer names so per-layer output shapes can be compared.
# ---------------------------------------------------------------------------------------------


def torch_lenet5(nn):
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 6, 5, padding=2), relu1=nn.ReLU(), pool1=nn.AvgPool2d(2),
        conv2=nn.Conv2d(6, 16, 5), relu2=nn.ReLU(), pool2=nn.AvgPool2d(2), flatten=nn.Flatten(),
        fc1=nn.Linear(400, 120), relu3=nn.ReLU(), fc2=nn.Linear(120, 84), relu4=nn.ReLU(), fc3=nn.Linear(84, 10),
    ))  # fmt: skip


def torch_head(nn, features):
    return [("flatten", nn.Flatten()), ("fc6", nn.Linear(features, 4096)), ("relu6", nn.ReLU()),
            ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()), ("fc8", nn.Linear(4096, 1000))]  # fmt: skip


def torch_alexnet(nn):
    layers = []
    for i, (cin, cout, k, s, p) in enumerate(
        [(3, 64, 11, 4, 2), (64, 192, 5, 1, 2), (192, 384, 3, 1, 1), (384, 256, 3, 1, 1), (256, 256, 3, 1, 1)], 1
    ):
        layers += [(f"conv{i}", nn.Conv2d(cin, cout, k, s, p)), (f"relu{i}", nn.ReLU())]
        if i in (1, 2, 5):
            layers.append((f"pool{i}", nn.MaxPool2d(3, 2)))
    return nn.Sequential(OrderedDict(layers + torch_head(nn, 256 * 6 * 6)))


def torch_vgg16(nn):
    layers, cin = [], 3
    for stage, (n, width) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], 1):
        for i in range(1, n + 1):
            layers += [(f"conv{stage}_{i}", nn.Conv2d(cin, width, 3, padding=1)), (f"relu{stage}_{i}", nn.ReLU())]
            cin = width
        layers.append((f"pool{stage}", nn.MaxPool2d(2)))
    return nn.Sequential(OrderedDict(layers + torch_head(nn, 512 * 7 * 7)))


def torch_resnet18(nn):
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    stages, cin = [], 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        stages.append(nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width, 1)))
        cin = width
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 64, 7, 2, 3, bias=False), bn1=nn.BatchNorm2d(64), relu=nn.ReLU(), maxpool=nn.MaxPool2d(3, 2, 1),
        layer1=stages[0], layer2=stages[1], layer3=stages[2], layer4=stages[3],
        avgpool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(512, 1000),
    ))  # fmt: skip


def resnet_name(torch_name: str) -> str:
    """torchvision module name -> zoo layer name (layer2.0.downsample.0 -> layer2_0_down)."""
    name = torch_name.replace(".downsample.0", "_down").replace(".downsample.1", "_down_bn")
    name = name.replace(".bn1", "_conv1_bn").replace(".bn2", "_conv2_bn")
    return {"bn1": "conv1_bn", "relu": "conv1_relu"}.get(name, name.replace(".", "_"))


@pytest.mark.parametrize(
    "name, build, rename, compared",
    [
        ("lenet5", torch_lenet5, str, 12),
        ("alexnet", torch_alexnet, str, 19),
        ("vgg16", torch_vgg16, str, 37),
        # stem conv/bn/relu/maxpool 4, per block conv1/bn/conv2/bn/relu 8 x 5, projections 3 x 2, head 3
        ("resnet18", torch_resnet18, resnet_name, 53),
    ],
)
def test_zoo_matches_pytorch(nets, name, build, rename, compared):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    net = nets[name]
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        model = build(torch.nn).eval()
        names, shapes = {n.name for n in net}, {}

        def record(key):
            def hook(module, inputs, output):  # first call wins: a block's shared ReLU first runs
                shapes.setdefault(key, tuple(output.shape))  # after conv1, at the block's output shape

            return hook

        for module_name, module in model.named_modules():
            if (key := rename(module_name)) in names:
                module.register_forward_hook(record(key))
        model(torch.empty(net.input_shape))
    assert sum(p.numel() for p in model.parameters()) == net.params
    assert shapes == {key: net[key].out_shape for key in shapes}
    assert len(shapes) == compared
