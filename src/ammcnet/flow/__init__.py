"""ammcnet.flow"""
