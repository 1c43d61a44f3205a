"""The simulated custodian bank (模拟存管银行): its own tables, books and signed callbacks."""
