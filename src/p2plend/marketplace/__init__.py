"""Marketplace: listings with disclosure, bids that freeze funds, funding, disbursement, holdings."""
