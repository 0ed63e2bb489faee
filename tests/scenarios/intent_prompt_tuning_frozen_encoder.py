"""CoOp-style prompt tuning: learned context vectors `ctx` are prepended to the class tokens and run through a
text encoder meant to stay frozen; an image encoder embeds the images; the optimizer holds only `ctx`, but
nothing froze the encoders. Truth: both encoders get gradients the optimizer never uses. gradviz:
not_in_optimizer; for the text encoder, which ctx learns through, the fix offers `requires_grad_(False)`
(the gradient still flows through it to ctx) first; for the image encoder, which meets ctx only in the
similarity, both fixes, one each."""

import torch
import torch.nn.functional as F
from torch import nn

RAISES = None
NOTE = []
TEXT = ("text_encoder.0.weight", "text_encoder.0.bias", "text_encoder.2.weight", "text_encoder.2.bias")
IMAGE = ("image_encoder.weight", "image_encoder.bias")
EXPECT = {
    "ctx": ("ok", "*"),
    **dict.fromkeys(TEXT, ("not_in_optimizer", "@text")),
    **dict.fromkeys(IMAGE, ("not_in_optimizer", None)),
}
GRADS = dict.fromkeys(EXPECT, "nonzero")
MESSAGE = {
    **{name: ["model.text_encoder.requires_grad_(false)", "still flows", "ctx"] for name in TEXT},
    **{name: ["if it should learn", "model.image_encoder.requires_grad_(false)"] for name in IMAGE},
}
AVOID = {name: ["build the optimizer from model.parameters()"] for name in TEXT}


class PromptLearner(nn.Module):
    def __init__(self, dim=8, n_ctx=4):
        super().__init__()
        self.ctx = nn.Parameter(torch.randn(n_ctx, dim) * 0.02)
        self.text_encoder = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.image_encoder = nn.Linear(12, dim)

    def forward(self, images, class_tokens):
        prompts = torch.cat([self.ctx.expand(class_tokens.shape[0], -1, -1), class_tokens], 1)
        text = self.text_encoder(prompts).mean(1)  # @text
        image = self.image_encoder(images)
        return 10 * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T


def run(trace):
    torch.manual_seed(0)
    model = PromptLearner()
    opt = torch.optim.SGD([model.ctx], lr=2e-3)
    images, class_tokens = torch.randn(5, 12), torch.randn(3, 2, 8)
    with trace(model, optimizer=opt):
        loss = F.cross_entropy(model(images, class_tokens), torch.tensor([0, 1, 2, 0, 1]))
        loss.backward()
    return model
