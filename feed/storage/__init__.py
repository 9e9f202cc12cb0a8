"""Storage: interfaces for each kind of state, and the backends behind them.

The only layer that writes SQL or talks to FAISS.
"""
