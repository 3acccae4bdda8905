"""ammcnet.detect"""
