"""债权转让 tables: the transfer listing and each part sold.

They are defined in ``p2plend.marketplace.transfer_listings``, beside the holdings they
trade, because servicing (a lower layer) cancels a loan's open listings whenever money
moves on it (R40) and the statements read what a claim was bought and sold for. This
module names them for the transfers package.
"""

from p2plend.marketplace.transfer_listings import TransferListing, TransferSale

__all__ = ["TransferListing", "TransferSale"]
