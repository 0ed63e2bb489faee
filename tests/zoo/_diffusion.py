"""Diffusion models (diffusers): UNet2DModel, UNet2DConditionModel, ControlNet on a frozen UNet, DiT, PixArt,
SD3's MMDiT, Flux, a VAE and a VQ autoencoder.

Each is trained as a noise predictor (mean squared error against the noise), the autoencoders on
reconstruction (+ KL / the VQ commitment loss).
"""

from __future__ import annotations

import diffusers as df
import torch
from torch import nn
from torch.nn import functional as F

from ._case import Case


def unet_batch(model: nn.Module) -> dict:
    cfg = model.config
    x = torch.randn(2, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    batch = {"sample": x, "noise": torch.randn_like(x), "timestep": torch.randint(0, 1000, (2,))}
    if getattr(cfg, "cross_attention_dim", None):
        batch["encoder_hidden_states"] = torch.randn(2, 5, cfg.cross_attention_dim)
    return batch


def unet_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    noisy = batch["sample"] + batch["noise"]
    kwargs = (
        {"encoder_hidden_states": batch["encoder_hidden_states"]} if "encoder_hidden_states" in batch else {}
    )
    pred = model(noisy, batch["timestep"], **kwargs).sample
    return F.mse_loss(pred.float(), batch["noise"])


def dit_batch(model: nn.Module) -> dict:
    cfg = model.config
    x = torch.randn(2, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    return {
        "sample": x,
        "noise": torch.randn_like(x),
        "timestep": torch.randint(0, 1000, (2,)),
        "class_labels": torch.randint(0, cfg.num_embeds_ada_norm, (2,)),
    }


def dit_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    pred = model(
        batch["sample"] + batch["noise"], timestep=batch["timestep"], class_labels=batch["class_labels"]
    ).sample
    return F.mse_loss(
        pred[:, : batch["noise"].shape[1]].float(), batch["noise"]
    )  # the learned-sigma half unused


def sd3_batch(model: nn.Module) -> dict:
    cfg = model.config
    x = torch.randn(2, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    return {
        "sample": x,
        "noise": torch.randn_like(x),
        "timestep": torch.randint(0, 1000, (2,)),
        "encoder_hidden_states": torch.randn(2, 5, cfg.joint_attention_dim),
        "pooled_projections": torch.randn(2, cfg.pooled_projection_dim),
    }


def sd3_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    pred = model(
        batch["sample"] + batch["noise"],
        encoder_hidden_states=batch["encoder_hidden_states"],
        pooled_projections=batch["pooled_projections"],
        timestep=batch["timestep"],
    ).sample
    return F.mse_loss(pred.float(), batch["noise"])


def vae_batch(model: nn.Module) -> dict:
    return {"sample": torch.rand(2, 3, 16, 16) * 2 - 1}


def vae_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    posterior = model.encode(batch["sample"]).latent_dist
    recon = model.decode(posterior.sample()).sample
    return F.mse_loss(recon, batch["sample"]) + 1e-3 * posterior.kl().mean()


class ControlNetTraining(nn.Module):
    """ControlNet training as in diffusers' example: the UNet frozen, the ControlNet (a copy of its encoder)
    trained. Its output convolutions start at zero, so on the first step everything before them gets an
    exactly zero gradient (a true ``zero``) while the zero convolutions themselves learn."""

    def __init__(self) -> None:
        super().__init__()
        self.unet = df.UNet2DConditionModel(**UNET_COND)
        self.unet.requires_grad_(False)
        self.controlnet = df.ControlNetModel.from_unet(self.unet, conditioning_embedding_out_channels=(8, 16))

    def forward(self, sample, timestep, encoder_hidden_states, cond):
        down, mid = self.controlnet(
            sample,
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            controlnet_cond=cond,
            return_dict=False,
        )
        return self.unet(
            sample,
            timestep,
            encoder_hidden_states=encoder_hidden_states,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample


def controlnet_batch(model: nn.Module) -> dict:
    batch = unet_batch(model.unet)
    batch["cond"] = torch.randn(2, 3, 16, 16)  # the conditioning image (2x the latent: one downsampling)
    return batch


def controlnet_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    pred = model(
        batch["sample"] + batch["noise"], batch["timestep"], batch["encoder_hidden_states"], batch["cond"]
    )
    return F.mse_loss(pred, batch["noise"])


def pixart_batch(model: nn.Module) -> dict:
    cfg = model.config
    x = torch.randn(2, cfg.in_channels, cfg.sample_size, cfg.sample_size)
    return {
        "sample": x,
        "noise": torch.randn_like(x),
        "timestep": torch.randint(0, 1000, (2,)),
        "encoder_hidden_states": torch.randn(2, 5, cfg.caption_channels),
    }


def pixart_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    pred = model(
        batch["sample"] + batch["noise"],
        encoder_hidden_states=batch["encoder_hidden_states"],
        timestep=batch["timestep"],
        added_cond_kwargs={"resolution": None, "aspect_ratio": None},
    ).sample
    return F.mse_loss(pred[:, : batch["noise"].shape[1]], batch["noise"])


def flux_batch(model: nn.Module) -> dict:
    cfg = model.config
    tokens = torch.randn(2, 16, cfg.in_channels)  # 4x4 latent patches, already packed
    img_ids = torch.stack(
        torch.meshgrid(torch.zeros(1), torch.arange(4.0), torch.arange(4.0), indexing="ij"), -1
    )
    return {
        "sample": tokens,
        "noise": torch.randn_like(tokens),
        "timestep": torch.rand(2),
        "encoder_hidden_states": torch.randn(2, 5, cfg.joint_attention_dim),
        "pooled_projections": torch.randn(2, cfg.pooled_projection_dim),
        "img_ids": img_ids.reshape(16, 3),
        "txt_ids": torch.zeros(5, 3),
    }


def flux_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    pred = model(
        batch["sample"] + batch["noise"],
        encoder_hidden_states=batch["encoder_hidden_states"],
        pooled_projections=batch["pooled_projections"],
        timestep=batch["timestep"],
        img_ids=batch["img_ids"],
        txt_ids=batch["txt_ids"],
    ).sample
    return F.mse_loss(pred, batch["noise"])


def vq_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    h = model.encode(batch["sample"]).latents
    quantized, commitment, _ = model.quantize(h)
    return F.mse_loss(model.decode(quantized, force_not_quantize=True).sample, batch["sample"]) + commitment


UNET_COND = {
    "sample_size": 8,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (16, 32),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": 16,
    "norm_num_groups": 8,
    "attention_head_dim": 4,
}


def cases() -> list[Case]:
    return [
        Case(
            "diffusers-unet2d",
            lambda: df.UNet2DModel(
                sample_size=16,
                in_channels=3,
                out_channels=3,
                block_out_channels=(16, 32),
                layers_per_block=1,
                down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                norm_num_groups=8,
                attention_head_dim=8,
            ),
            unet_batch,
            unet_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-unet2d-condition",
            lambda: df.UNet2DConditionModel(**UNET_COND),
            unet_batch,
            unet_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-controlnet-frozen-unet",
            ControlNetTraining,
            controlnet_batch,
            controlnet_loss,
            shows=(
                ("zero", "controlnet.down_blocks"),
                ("finite", "controlnet.controlnet_down_blocks"),
                ("none", "unet."),
            ),
            group="diffusion",
        ),
        Case(
            "diffusers-pixart",
            lambda: df.PixArtTransformer2DModel(
                num_attention_heads=2,
                attention_head_dim=8,
                in_channels=4,
                out_channels=8,
                num_layers=2,
                sample_size=8,
                patch_size=2,
                cross_attention_dim=16,
                caption_channels=12,
                norm_num_groups=8,
            ),
            pixart_batch,
            pixart_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-flux",
            lambda: df.FluxTransformer2DModel(
                patch_size=1,
                in_channels=8,
                out_channels=8,
                num_layers=1,
                num_single_layers=1,
                attention_head_dim=8,
                num_attention_heads=2,
                joint_attention_dim=16,
                pooled_projection_dim=8,
                axes_dims_rope=(2, 2, 4),
            ),
            flux_batch,
            flux_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-dit",
            lambda: df.DiTTransformer2DModel(
                num_attention_heads=2,
                attention_head_dim=8,
                in_channels=4,
                out_channels=8,
                num_layers=2,
                sample_size=8,
                patch_size=2,
                num_embeds_ada_norm=10,
                norm_num_groups=8,
            ),
            dit_batch,
            dit_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-sd3-mmdit",
            lambda: df.SD3Transformer2DModel(
                sample_size=8,
                patch_size=2,
                in_channels=4,
                out_channels=4,
                num_layers=2,
                attention_head_dim=8,
                num_attention_heads=2,
                joint_attention_dim=16,
                caption_projection_dim=16,
                pooled_projection_dim=8,
                pos_embed_max_size=16,
            ),
            sd3_batch,
            sd3_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-vae",
            lambda: df.AutoencoderKL(
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                block_out_channels=(8, 16),
                layers_per_block=1,
                latent_channels=4,
                norm_num_groups=4,
                sample_size=16,
            ),
            vae_batch,
            vae_loss,
            group="diffusion",
        ),
        Case(
            "diffusers-vqmodel",
            lambda: df.VQModel(
                in_channels=3,
                out_channels=3,
                down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
                block_out_channels=(8, 16),
                layers_per_block=1,
                latent_channels=4,
                num_vq_embeddings=16,
                norm_num_groups=4,
                sample_size=16,
            ),
            vae_batch,
            vq_loss,
            group="diffusion",
        ),
    ]
