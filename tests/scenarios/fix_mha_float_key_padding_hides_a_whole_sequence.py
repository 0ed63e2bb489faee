"""The same as fix_mha_key_padding_hides_a_whole_sequence, the mask given as floats (0 / -inf): a mask of
-inf handed to attention is not a NaN "in the data".

nn.MultiheadAttention given a key_padding_mask that hides every key of one sequence (a batch padded
with an empty sequence): each query of that sequence may see no key, its softmax row is all -inf, and
every gradient is NaN. The whole attention is one call (F.multi_head_attention_forward), so the softmax
inside it is not seen: gradviz names that call and says its mask hides every key, and the fix drops the
empty sequences or leaves one key unmasked — not "lower the learning rate" (this is no overflow). The
same with the mask given as floats (0 / -inf): a mask of -inf handed to attention is not a NaN "in the
data". (Reported by the issue-19 review: it was born "in transpose, by overflow".)"""

import torch
from torch import nn

RAISES = None
NOTE = []
EXPECT = {
    "attn.in_proj_weight": ("nonfinite", "@attn"),
    "attn.in_proj_bias": ("nonfinite", "@attn"),
    "attn.out_proj.weight": ("nonfinite", "@attn"),
    "attn.out_proj.bias": ("nonfinite", "@attn"),
}
GRADS = dict.fromkeys(EXPECT, "nonfinite")
FLOAT_MASK = True

MESSAGE = {"attn.in_proj_weight": ["multi_head_attention_forward", "masked entirely", "all padding"]}
AVOID = {"attn.in_proj_weight": ["learning rate", "the data"]}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x, pad):
        if FLOAT_MASK:
            pad = torch.zeros(pad.shape).masked_fill(pad, float("-inf"))
        a, _ = self.attn(x, x, x, key_padding_mask=pad)  # @attn
        return a


def run(trace):
    torch.manual_seed(0)
    model = Net()
    x = torch.randn(2, 5, 8)
    pad = torch.zeros(2, 5, dtype=torch.bool)
    pad[1] = True  # the second sequence is all padding
    with trace(model):
        loss = model(x, pad).pow(2).mean()
        loss.backward()
    return model
