"""ammcnet.training"""
