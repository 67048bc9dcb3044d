"""Models: plain networks (nn.Module) and the LightningModule that trains any of them."""
