"""Servicing: fixed schedules, repayments split among holders, early repayment, statements."""
