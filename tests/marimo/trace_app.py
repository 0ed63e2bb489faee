"""A marimo app that shows a gradviz trace (used by tests/browser/test_marimo.py; run it yourself with
``marimo run tests/marimo/trace_app.py``)."""

import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import torch
    from torch import nn

    import gradviz

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(4, 8)
            self.head = nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.enc(x).relu().detach())  # the encoder will never learn

    torch.manual_seed(0)
    model = Net()
    with gradviz.trace(model) as t:
        model(torch.randn(16, 4)).pow(2).mean().backward()
    mo.ui.anywidget(t.widget())
    return


if __name__ == "__main__":
    app.run()
