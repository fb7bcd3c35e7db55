"""Shipped in ProbeLayer: importable only if the local runtime puts the layer on sys.path."""

GREETING = "hello from ProbeLayer"
