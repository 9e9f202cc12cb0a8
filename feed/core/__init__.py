"""The pure core: ranking, steering and instruction reading, profiles, consent rules.

Functions over plain values and arrays. Nothing here touches storage, the network or
the clock; nothing here imports the rest of the project (a test enforces it).
"""
