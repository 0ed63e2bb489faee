"""A small `nn.TransformerEncoder` (2 layers, batch_first=True, dropout 0) with a linear head.
Truth: every parameter gets a non-zero gradient, no error. Warnings: torch warns "enable_nested_tensor is
True, but self.use_nested_tensor is False because ..." at construction only when the layer is not batch_first
(or uses norm_first=True); with batch_first=True it is silent on torch 2.13, so nothing needs suppressing.
gradviz: all ok (no false alarms on attention's fused in_proj and the internal ops)."""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {}
GRADS = {
    "encoder.layers.0.self_attn.in_proj_weight": "nonzero",
    "encoder.layers.0.self_attn.out_proj.weight": "nonzero",
    "encoder.layers.1.linear2.bias": "nonzero",
    "encoder.layers.1.norm2.weight": "nonzero",
    "head.weight": "nonzero",
}


class Net(nn.Module):
    def __init__(self, d_model=16):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model, nhead=2, dim_feedforward=32, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=2)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x):
        return self.head(self.encoder(x))


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(2, 5, 16), torch.randn(2, 5, 1)
    with trace(model):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
    return model
