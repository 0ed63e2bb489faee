"""A library-like helper for test_user_warnings: torch calls made from a module other than the test's."""

import torch.nn.functional as F


def soft(x):
    return F.softmax(x)  # implicit dim: torch warns at this line (the caller of F.softmax)
