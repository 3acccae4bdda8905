"""ammcnet.models"""
